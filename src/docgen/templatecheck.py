"""Prove that every variable a template uses exists in the model, before any letter is rendered.

Jinja2's ``meta`` API only lists top-level names; this module walks the template's syntax tree
and resolves whole attribute paths (``request.applicant.nib``, ``item.tariff_code`` inside
``{% for item in request.items %}``) against the pydantic models in
:data:`docgen.context.CONTEXT_TYPES`, and checks every filter exists. DOCX templates are read the
way docxtpl reads them (body, headers and footers, with its ``{%tr %}``-style tags rewritten).

Example::

    problems = check_catalogue(catalogue, environment)
    for problem in problems:
        print(problem)        # html/x.html.j2:12: request.applicant.nama does not exist
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Union

import jinja2
from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE
from docx.oxml import parse_xml
from docxtpl import DocxTemplate
from jinja2 import nodes
from pydantic import BaseModel

from docgen.catalogue import Catalogue, TemplateFormat
from docgen.context import CONTEXT_TYPES

__all__ = ["TemplateProblem", "check_catalogue", "check_source"]

_ANY = object()  # a value whose attributes cannot be checked (loop helpers, macro arguments)


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """A variable or filter a template uses that does not exist."""

    template: str
    """The template, relative to the templates folder."""
    line: int
    """Line in the template source (for DOCX, in docxtpl's merged XML)."""
    message: str
    """What is wrong."""

    def __str__(self) -> str:
        return f"{self.template}:{self.line}: {self.message}"


def _unwrap(annotation: Any) -> Any:
    """The checkable type inside ``Annotated``/``Optional``/``tuple[X, ...]`` wrappers."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(inner[0]) if len(inner) == 1 else _ANY
    if origin is typing.Literal:
        return str
    return annotation


def _attribute(owner: Any, name: str) -> Any | None:
    """The type of ``owner.name``, ``_ANY`` if unknowable, None if it does not exist."""
    if owner is _ANY:
        return _ANY
    if isinstance(owner, type) and issubclass(owner, BaseModel):
        if name in owner.model_fields:
            return _unwrap(owner.model_fields[name].annotation)
        return _ANY if isinstance(getattr(owner, name, None), property) else None
    if isinstance(owner, type) and (issubclass(owner, Enum) or hasattr(owner, name)):
        return _ANY if hasattr(owner, name) else None
    if typing.get_origin(owner) is tuple and name in ("count", "index"):
        return _ANY
    return None


def _element(container: Any) -> Any:
    """The type of the elements a ``for`` loop over ``container`` yields."""
    if typing.get_origin(container) is tuple:
        return _unwrap(typing.get_args(container)[0])
    return _ANY


class _Walker:
    def __init__(self, template: str, environment: jinja2.Environment):
        self.template = template
        self.environment = environment
        self.problems: list[TemplateProblem] = []

    def problem(self, node: nodes.Node, message: str) -> None:
        self.problems.append(TemplateProblem(self.template, node.lineno, message))

    def resolve(self, node: nodes.Node, scope: dict[str, Any]) -> Any:
        """The type of an expression, reporting unknown names and attributes on the way."""
        if isinstance(node, nodes.Name):
            if node.name in scope:
                return scope[node.name]
            self.problem(node, f"unknown variable {node.name!r}")
            return _ANY
        if isinstance(node, nodes.Getattr):
            owner = self.resolve(node.node, scope)
            found = _attribute(owner, node.attr)
            if found is None:
                self.problem(node, f"{_path(node)} does not exist")
                return _ANY
            return found
        if isinstance(node, nodes.Getitem):
            owner = self.resolve(node.node, scope)
            self.walk(node.arg, scope)
            return _element(owner)
        if isinstance(node, nodes.Filter | nodes.Test):
            kind = "filter" if isinstance(node, nodes.Filter) else "test"
            known = self.environment.filters if kind == "filter" else self.environment.tests
            if node.name not in known:
                self.problem(node, f"unknown {kind} {node.name!r}")
        self.walk(node, scope)
        return _ANY

    def walk(self, node: nodes.Node, scope: dict[str, Any]) -> None:
        """Visit every child of ``node``, tracking names that loops and assignments bind."""
        for child in node.iter_child_nodes():
            if isinstance(child, nodes.For):
                element = _element(self.resolve(child.iter, scope))
                inner = dict(scope, loop=_ANY)
                for target in _names(child.target):
                    inner[target] = element if isinstance(child.target, nodes.Name) else _ANY
                if child.test is not None:
                    self.resolve(child.test, inner)
                for statement in child.body:
                    self.walk_statement(statement, inner)
                for statement in child.else_:
                    self.walk_statement(statement, scope)
            elif isinstance(child, nodes.Macro | nodes.CallBlock):
                inner = dict(scope, caller=_ANY, varargs=_ANY, kwargs=_ANY)
                inner.update((argument.name, _ANY) for argument in child.args)
                for statement in child.body:
                    self.walk_statement(statement, inner)
                if isinstance(child, nodes.Macro):
                    scope[child.name] = _ANY
            elif isinstance(child, nodes.Assign):
                # {% set items = request.items %}: the name keeps the value's type, so what is
                # read through it is still checked
                value = self.resolve(child.node, scope)
                for target in _names(child.target):
                    scope[target] = value if isinstance(child.target, nodes.Name) else _ANY
            elif isinstance(child, nodes.AssignBlock):
                for statement in child.body:
                    self.walk_statement(statement, scope)
                for target in _names(child.target):
                    scope[target] = _ANY
            elif isinstance(child, nodes.With):
                inner = dict(scope)
                for bound, value in zip(child.targets, child.values, strict=True):
                    resolved = self.resolve(value, scope)
                    for name in _names(bound):
                        inner[name] = resolved if isinstance(bound, nodes.Name) else _ANY
                for statement in child.body:
                    self.walk_statement(statement, inner)
            elif isinstance(child, nodes.Import):
                scope[child.target] = _ANY
            elif isinstance(child, nodes.FromImport):
                for imported in child.names:
                    scope[imported if isinstance(imported, str) else imported[1]] = _ANY
            elif isinstance(child, nodes.Expr):
                self.resolve(child, scope)
            else:
                self.walk_statement(child, scope)

    def walk_statement(self, node: nodes.Node, scope: dict[str, Any]) -> None:
        if isinstance(node, nodes.Expr):
            self.resolve(node, scope)
        else:
            self.walk(node, scope)


def _names(target: nodes.Node) -> list[str]:
    return (
        [name.name for name in target.find_all(nodes.Name)]
        if not isinstance(target, nodes.Name)
        else [target.name]
    )


def _path(node: nodes.Node) -> str:
    if isinstance(node, nodes.Getattr):
        return f"{_path(node.node)}.{node.attr}"
    if isinstance(node, nodes.Name):
        return node.name
    return "(expression)"


def check_source(
    source: str, template: str, environment: jinja2.Environment
) -> list[TemplateProblem]:
    """Check one template's source text (with its ``extends``/``include`` targets left out)."""
    try:
        tree = environment.parse(source)
    except jinja2.TemplateSyntaxError as error:
        return [TemplateProblem(template, error.lineno, f"syntax error: {error.message}")]
    walker = _Walker(template, environment)
    # Jinja's own names (range, namespace, ...), super() and self inside blocks, then ours
    scope: dict[str, Any] = dict.fromkeys([*environment.globals, "super", "self"], _ANY)
    walker.walk(tree, scope | CONTEXT_TYPES)
    return walker.problems


def docx_source(path: Path) -> str:
    """The Jinja source docxtpl renders for a DOCX template: body, headers and footers."""
    document = Document(str(path))
    helper = DocxTemplate(str(path))
    source = helper.patch_xml(helper.xml_to_string(document.element.body))
    for relation in document.part.rels.values():
        if relation.reltype in (RELATIONSHIP_TYPE.HEADER, RELATIONSHIP_TYPE.FOOTER):
            part_xml = parse_xml(relation.target_part.blob)
            source += helper.patch_xml(helper.xml_to_string(part_xml))
    return str(source)


def check_catalogue(catalogue: Catalogue, environment: jinja2.Environment) -> list[TemplateProblem]:
    """Check every template the catalogue names (each once) and every HTML template it extends."""
    problems: list[TemplateProblem] = []
    seen: set[str] = set()
    pending = [
        (template, service.format)
        for service in catalogue
        for template in (service.template_approved, service.template_rejected)
    ]
    while pending:
        template, kind = pending.pop(0)
        if template in seen:
            continue
        seen.add(template)
        path = catalogue.root / template
        source = docx_source(path) if kind is TemplateFormat.DOCX else path.read_text("utf-8")
        problems += check_source(source, template, environment)
        if kind is TemplateFormat.HTML:
            try:
                tree = environment.parse(source)
            except jinja2.TemplateSyntaxError:
                continue
            for reference in tree.find_all((nodes.Extends, nodes.Include, nodes.Import)):
                target = getattr(reference, "template", None)
                if isinstance(target, nodes.Const):
                    pending.append((str(target.value), kind))
    return problems
