"""Rendering: a validated request becomes a PDF/A letter, by its service's template format.

:class:`Renderer` is built once from settings (templates read, stylesheet parsed, fonts ready,
the LibreOffice converter started on first use and kept warm) and is safe to share between
threads. It checks the request against the catalogue, builds the template context, renders by
the service's format (HTML through WeasyPrint, DOCX through LibreOffice), and finishes the PDF:
the request embedded as JSON, and a stamp on every page of a draft.

Example::

    with Renderer(Settings.load()) as renderer:
        letter = renderer.render_draft(request)
        Path("draft.pdf").write_bytes(letter.pdf)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from docgen.catalogue import Catalogue, Service, TemplateFormat
from docgen.config import Settings
from docgen.context import build_context
from docgen.formatting import today_in
from docgen.models import LetterRequest
from docgen.render.converter import LibreOfficeConverter
from docgen.resources import Closing

if TYPE_CHECKING:
    from docgen.render.docx import DocxRenderer
    from docgen.render.html import HtmlRenderer

__all__ = ["RenderedLetter", "Renderer"]


@dataclass(frozen=True, slots=True)
class RenderedLetter:
    """A rendered, unsigned letter."""

    request: LetterRequest
    """The request it was rendered from."""
    service: Service
    """The catalogue entry it was rendered with."""
    template: str
    """The template used, relative to the templates folder."""
    number: str
    """The letter number printed in it (a placeholder in a draft)."""
    draft: bool
    """Whether it is a draft (stamped, no register number)."""
    pdf: bytes
    """The PDF/A-3b document, with the request embedded as JSON (unless rendered without)."""


class Renderer(Closing):
    """Renders letters for every service in the catalogue; build once, reuse, then close.

    Shared by threads: each thread keeps its own WeasyPrint fonts and stylesheets, and the
    converter lets one DOCX letter at a time through to its LibreOffice. Usable in processes
    forked after it was built: a child makes its own converter state and LibreOffice (see
    :class:`~docgen.render.converter.LibreOfficeConverter`), and :meth:`close` in a child stops
    only the child's.
    """

    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue | None = None,
        converter: LibreOfficeConverter | None = None,
    ):
        """Prepare both rendering paths; the converter starts on the first DOCX letter."""
        self.settings = settings
        self.catalogue = catalogue or Catalogue.load(settings.templates / "catalogue.toml")
        self._owns_converter = converter is None
        self.converter = converter or LibreOfficeConverter(settings.converter)
        # imported here: WeasyPrint, docxtpl and pyHanko are heavy, and importing docgen.render
        # (for docgen.render.environment, say) must not load them in processes that never render
        from docgen.render.docx import DocxRenderer
        from docgen.render.html import HtmlRenderer

        self.html: HtmlRenderer = HtmlRenderer(self.catalogue.root)
        self.docx: DocxRenderer = DocxRenderer(self.catalogue.root, self.converter)

    def close(self) -> None:
        """Stop the converter if this renderer started it."""
        if self._owns_converter:
            self.converter.close()

    def render_draft(self, request: LetterRequest, *, source: str = "") -> RenderedLetter:
        """Render an unsigned draft: placeholder number, dated today (as issued today), stamped."""
        return self._render(request, source=source)

    def render_final(
        self,
        request: LetterRequest,
        *,
        number: str,
        letter_date: date,
        verification_url: str,
        source: str = "",
        checked: Service | None = None,
        attach: bool = True,
    ) -> RenderedLetter:
        """Render the letter as it will be signed: its register number, date and verify link.

        ``checked`` is the service the caller already checked the request against (the Issuer
        does, before it takes a number): the request is then not checked again. Without
        ``attach`` the request is not embedded: the signer embeds it in the signature's own
        update (``PadesSigner.sign(..., attach=request)``), so the PDF is written once.
        """
        return self._render(
            request,
            number=number,
            letter_date=letter_date,
            verification_url=verification_url,
            source=source,
            checked=checked,
            attach=attach,
        )

    def _render(
        self,
        request: LetterRequest,
        *,
        number: str | None = None,
        letter_date: date | None = None,
        verification_url: str = "",
        source: str = "",
        checked: Service | None = None,
        attach: bool = True,
    ) -> RenderedLetter:
        # a final letter is checked against and dated on its own date; a draft on today's, the
        # day it would be issued: the same rule, so the draft shows the date the letter will
        today = letter_date or today_in(self.settings.signing.timezone)
        service = checked or self.catalogue.check_request(request, today=today, source=source)
        context = build_context(
            request,
            service,
            self.settings,
            number=number,
            letter_date=today,
            verification_url=verification_url,
        )
        template = service.template_for(request.decision.outcome)
        path = self.html if service.format is TemplateFormat.HTML else self.docx
        from docgen.render.pdf import finish

        draft = number is None
        pdf = finish(
            path.render(template, context),
            attach=request if attach else None,
            draft_text=self.settings.esign.draft_stamp if draft else None,
        )
        return RenderedLetter(
            request=request,
            service=service,
            template=template,
            number=context["letter"].number,
            draft=draft,
            pdf=pdf,
        )
