"""The sandboxed Jinja2 environment every template is rendered in, HTML and DOCX alike.

Kept apart from the HTML path so that importing it does not import WeasyPrint: the DOCX path,
the template check and a batch's main process need the environment but never render HTML.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from docgen.formatting import FILTERS

__all__ = ["template_environment"]

_COMPILED_SOURCES = 256
"""Compiled ``from_string`` templates kept per environment (a few parts per DOCX template)."""


class _TemplateSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with ``from_string`` remembering what it compiled.

    docxtpl hands every part of a DOCX template (body, headers, footers, document properties)
    to ``from_string`` for every letter, and the source is the same each time: compiling it
    was nearly half of a DOCX merge. Compiled templates hold no per-render state, so one may
    serve every letter and every thread.
    """

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._compiled: OrderedDict[str, jinja2.Template] = OrderedDict()
        self._compiled_locks: dict[int, threading.Lock] = {}

    @property
    def _compiled_lock(self) -> threading.Lock:
        # one lock per process: a forked child must not inherit one that another of the
        # parent's threads held at the fork (it would stay locked in the child forever);
        # setdefault is atomic, so two threads of a new process agree on one lock
        return self._compiled_locks.setdefault(os.getpid(), threading.Lock())

    def from_string(
        self,
        source: str | jinja2.nodes.Template,
        globals: MutableMapping[str, Any] | None = None,
        template_class: type[jinja2.Template] | None = None,
    ) -> jinja2.Template:
        """Compile ``source`` once; later calls with the same text return the same template."""
        if not isinstance(source, str) or globals or template_class is not None:
            return super().from_string(source, globals, template_class)
        # autoescape is part of the key: docxtpl sets it on the environment before rendering
        key = f"{int(bool(self.autoescape))}{source}"
        with self._compiled_lock:
            template = self._compiled.get(key)
            if template is not None:
                self._compiled.move_to_end(key)
                return template
        template = super().from_string(source)
        with self._compiled_lock:
            self._compiled[key] = template
            while len(self._compiled) > _COMPILED_SOURCES:
                self._compiled.popitem(last=False)
        return template


def template_environment(root: Path | None, *, autoescape: bool) -> jinja2.Environment:
    """The sandboxed Jinja2 environment every template is rendered in (HTML and DOCX)."""
    environment = _TemplateSandbox(
        loader=jinja2.FileSystemLoader(root) if root is not None else None,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.filters.update(FILTERS)
    return environment
