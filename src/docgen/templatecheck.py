"""Prove that every variable a template uses exists in the model, before any letter is rendered.

Jinja2's ``meta`` API only lists top-level names; this module walks the template's syntax tree
and resolves whole attribute paths (``request.applicant.nib``, ``item.tariff_code`` inside
``{% for item in request.items %}``) against the pydantic models in
:data:`docgen.context.CONTEXT_TYPES`, and checks every filter exists. DOCX templates are read the
way docxtpl reads them (body, headers and footers, with its ``{%tr %}``-style tags rewritten).

:func:`check_letters` looks for what a clerk gets wrong in Word, or leaves out of a new service:
a template without the signature or QR space, a DOCX template that, merged with the service's
sample request, still shows a tag (a brace lost or doubled while editing, a tag docxtpl could
not piece together from its runs), a service without sample requests. :func:`unconfirmed` lists
the services whose regulation the unit has not confirmed.

Example::

    problems = check_catalogue(catalogue, environment)
    for problem in problems:
        print(problem)        # html/x.html.j2:12: request.applicant.nama does not exist
"""

from __future__ import annotations

import io
import re
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

from docgen.catalogue import Catalogue, Service, TemplateFormat
from docgen.config import Settings
from docgen.context import CONTEXT_TYPES, build_context
from docgen.models import LetterRequest, Outcome
from docgen.render.environment import template_environment

__all__ = [
    "TemplateProblem",
    "check_catalogue",
    "check_letters",
    "check_source",
    "sample_path",
    "unconfirmed",
]

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


def _stories(document: Any) -> list[Any]:
    """A DOCX document's text parts, as docxtpl renders them: body, then headers and footers."""
    parts = [document.element.body]
    for relation in document.part.rels.values():
        if relation.reltype in (RELATIONSHIP_TYPE.HEADER, RELATIONSHIP_TYPE.FOOTER):
            parts.append(parse_xml(relation.target_part.blob))
    return parts


def docx_source(path: Path) -> str:
    """The Jinja source docxtpl renders for a DOCX template: body, headers and footers."""
    helper = DocxTemplate(str(path))
    stories = _stories(Document(str(path)))
    return "".join(str(helper.patch_xml(helper.xml_to_string(part))) for part in stories)


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
            pending += [(name, kind) for name in _referenced(source, environment)]
    # a service copied by `services new` and left unedited would print the other's title
    titles: dict[str, str] = {}
    for service in catalogue:
        first = titles.setdefault(service.title.casefold(), service.code)
        if first != service.code:
            message = (
                f"{service.code} has the same title as {first} ({service.title!r}): give it "
                "its own title, subject and regulation"
            )
            problems.append(TemplateProblem("catalogue.toml", 0, message))
    return problems


_SPACES = {
    "docgenSignatureBox": "the signature space (docgenSignatureBox): the visible signature would "
    "go to the bottom right of the last page",
    "docgenQrBox": "the QR code space (docgenQrBox): the QR code would go to the bottom left of "
    "the last page",
}
# what is left of a tag in a merged letter's text: docxtpl merged every tag it could read
_LEFTOVER = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def sample_path(samples: Path, code: str, outcome: Outcome) -> Path:
    """Where service ``code``'s sample request for ``outcome`` is: ``<code>-<outcome>.json``."""
    return samples / f"{code.lower()}-{outcome.value}.json"


def unconfirmed(catalogue: Catalogue) -> list[Service]:
    """The services whose regulation the unit has not confirmed (``regulation_confirmed``)."""
    return [service for service in catalogue if not service.regulation_confirmed]


def _referenced(text: str, environment: jinja2.Environment) -> list[str]:
    """The templates an HTML template extends, includes or imports by name."""
    try:
        tree = environment.parse(text)
    except jinja2.TemplateSyntaxError:
        return []  # reported by check_source
    found = []
    for reference in tree.find_all((nodes.Extends, nodes.Include, nodes.Import)):
        target = getattr(reference, "template", None)
        if isinstance(target, nodes.Const):
            found.append(str(target.value))
    return found


def _merged(
    catalogue: Catalogue,
    service: Service,
    outcome: Outcome,
    request: LetterRequest,
    settings: Settings,
    environments: tuple[jinja2.Environment, jinja2.Environment],
) -> tuple[list[str], list[str]]:
    """The template merged with ``request``, and what is wrong with it.

    ``environments`` are the HTML templates' (loading from the templates folder) and the DOCX
    templates'. Returns the reserved spaces the letter does not mark exactly once, and (DOCX)
    the paragraphs that still show something like a tag.
    """
    template = service.template_for(outcome)
    context = build_context(request, service, settings, letter_date=request.decision.date)
    html, docx = environments
    if service.format is TemplateFormat.HTML:
        text = html.get_template(template).render(context)
        missing = [n for n in _SPACES if len(re.findall(rf"id=[\"']{n}[\"']", text)) != 1]
        return missing, []
    document = DocxTemplate(str(catalogue.root / template))
    document.render(context, jinja_env=docx, autoescape=True)
    out = io.BytesIO()
    document.save(out)
    stories = _stories(Document(io.BytesIO(out.getvalue())))
    names = [b.get(f"{_W}name") for b in stories[0].iter(f"{_W}bookmarkStart")]
    paragraphs = [
        "".join(t.text or "" for t in paragraph.iter(f"{_W}t"))
        for story in stories
        for paragraph in story.iter(f"{_W}p")
    ]
    missing = [name for name in _SPACES if names.count(name) != 1]
    return missing, [text for text in paragraphs if _LEFTOVER.search(text)]


def check_letters(
    catalogue: Catalogue, settings: Settings, samples: Path, environment: jinja2.Environment
) -> list[TemplateProblem]:
    """What a clerk gets wrong in a service's templates, or leaves out of a new service.

    Every service needs a sample request for each outcome in ``samples`` (:func:`sample_path`).
    Its template, merged with it, must mark the signature and QR code spaces once each, and a
    DOCX letter must show no tag. A template that cannot be merged at all is left to
    :func:`check_catalogue`, which says why.
    """
    problems: list[TemplateProblem] = []
    environments = (template_environment(catalogue.root, autoescape=True), environment)
    for service in catalogue:
        for outcome in Outcome:
            template = service.template_for(outcome)
            sample = sample_path(samples, service.code, outcome)
            if not sample.is_file():
                message = f"{service.code} has no sample request {sample.name}"
                problems.append(TemplateProblem(template, 0, message))
                continue
            request = LetterRequest.from_json(sample.read_bytes(), source=str(sample))
            try:
                missing, left = _merged(
                    catalogue, service, outcome, request, settings, environments
                )
            except jinja2.TemplateError:
                continue  # check_catalogue reports the template's own fault
            found = [f"does not mark {_SPACES[name]}" for name in missing]
            for text in left:
                shown = text if len(text) <= 80 else text[:77] + "..."
                found.append(
                    f"merged with {sample.name}, a paragraph still shows a tag: {shown!r} "
                    "(a brace lost or doubled, or a tag Word broke apart: retype it whole)"
                )
            for message in found:
                problem = TemplateProblem(template, 0, message)
                if problem not in problems:  # a shared template, once
                    problems.append(problem)
    return problems
