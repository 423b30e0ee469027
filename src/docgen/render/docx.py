"""DOCX letters: docxtpl templates merged with autoescape, converted to PDF/A by LibreOffice.

The merge runs in the same sandboxed, strict Jinja2 environment as the HTML path (same filters,
undefined names are errors) with autoescape on, so text such as ``AT&T <Müller>`` stays text and
the document stays valid XML; control characters never get this far (the request model refuses
them). Conversion goes to the warm :class:`LibreOfficeConverter`, and its PDF is compacted (see
:func:`compact`).

Example::

    renderer = DocxRenderer(settings.templates, converter)
    pdf = renderer.render("docx/ikft-pertek-ban.docx", context)
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import jinja2
import pikepdf
from docxtpl import DocxTemplate

from docgen.errors import TemplateError
from docgen.render.converter import LibreOfficeConverter
from docgen.render.environment import template_environment

__all__ = ["DocxRenderer", "compact"]


_COMPACT_FROM = 256 * 1024
"""PDFs from this size on are compacted; a smaller one (a letter of a few pages) would lose half
its size for 20-35 ms of CPU, a tenth of its cost, which a letter of that size is not worth."""


def compact(pdf: bytes) -> bytes:
    """LibreOffice's PDF, when it is large, rewritten with its objects in object streams.

    LibreOffice tags every PDF/A it writes (the export option cannot turn it off) and writes
    each structure element as a plain object: a 300-row goods table makes 7,400 of them and a
    1.5 MB letter, against 0.18 MB for the same letter in HTML. qpdf packs them into compressed
    object streams: 0.33 MB, in a quarter of a second. Nothing else changes: objects, tags,
    metadata and destinations are kept.
    """
    if len(pdf) < _COMPACT_FROM:
        return pdf
    with pikepdf.open(io.BytesIO(pdf)) as document:
        out = io.BytesIO()
        document.save(
            out,
            object_stream_mode=pikepdf.ObjectStreamMode.generate,
            recompress_flate=False,  # LibreOffice's streams are compressed already
        )
    return out.getvalue()


@functools.lru_cache(maxsize=64)
def _patched_xml(source: str) -> str:
    """The part's XML cleaned up by docxtpl for Jinja2: the same for every letter of a template."""
    patched: str = DocxTemplate.patch_xml(None, source)  # a pure function of its text
    return patched


class _MergeTemplate(DocxTemplate):  # type: ignore[misc]
    """docxtpl's template, with the per-template clean-up of its XML done once, not per letter."""

    def patch_xml(self, src_xml: str) -> str:
        return _patched_xml(src_xml)


class DocxRenderer:
    """Merges DOCX templates and converts them to PDF/A; build once, share between threads."""

    def __init__(self, templates: Path, converter: LibreOfficeConverter):
        """Read every template file once; conversions go to ``converter``."""
        self._root = templates.resolve()
        self._converter = converter
        self._sources: dict[str, bytes] = {}
        self._environment = template_environment(None, autoescape=True)

    @property
    def environment(self) -> jinja2.Environment:
        """The Jinja2 environment (for template checks)."""
        return self._environment

    def _source(self, template: str) -> bytes:
        if template not in self._sources:
            self._sources[template] = (self._root / template).read_bytes()
        return self._sources[template]

    def to_docx(self, template: str, context: dict[str, Any]) -> bytes:
        """Merge the context into a DOCX template; :class:`TemplateError` on any fault."""
        document = _MergeTemplate(io.BytesIO(self._source(template)))
        try:
            document.render(context, jinja_env=self._environment, autoescape=True)
        except jinja2.TemplateError as error:
            raise TemplateError(f"Template {template} failed: {error}") from None
        out = io.BytesIO()
        document.save(out)
        return out.getvalue()

    def render(self, template: str, context: dict[str, Any]) -> bytes:
        """Render a template with a context to PDF/A-3b bytes."""
        return compact(self._converter.docx_to_pdf(self.to_docx(template, context)))
