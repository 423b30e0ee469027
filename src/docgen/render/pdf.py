"""Finishing a rendered letter: the request attachment and, for a draft, the stamp.

Every letter carries its validated request as an associated JSON file (PDF/A-3 allows
attachments with an ``/AFRelationship``), so a receiving system can read the letter's data from
the file itself. A draft additionally gets a stamp on every page, drawn with an embedded font so
the PDF/A stays valid. A letter to be signed is finished by the signer instead, in the same
update as its signature (see :mod:`docgen.sign.pades`).

Example::

    pdf = finish(pdf, attach=request, draft_text="KONSEP")
    read_request(pdf) == request    # True
"""

from __future__ import annotations

import functools
import io
from html import escape

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from docgen._pdf import (
    ATTACHMENT_DESCRIPTION,
    ATTACHMENT_NAME,
    draw_on_page,
    embed_request,
    open_update,
    page_count,
    page_size,
    read_request,
)
from docgen.errors import RenderError
from docgen.models import LetterRequest

__all__ = ["ATTACHMENT_DESCRIPTION", "ATTACHMENT_NAME", "finish", "read_request"]


def finish(
    pdf: bytes, *, attach: LetterRequest | None = None, draft_text: str | None = None
) -> bytes:
    """Attach the request and/or stamp every page as a draft, in one incremental update."""
    if attach is None and draft_text is None:
        return pdf
    try:
        writer = open_update(pdf)
        if attach is not None:
            embed_request(writer, attach)
        if draft_text is not None:
            _stamp(writer, draft_text)
        out = io.BytesIO()
        writer.write(out)
    except (PdfError, ValueError, KeyError) as error:
        raise RenderError(f"Could not finish the rendered PDF: {error}") from error
    return out.getvalue()


@functools.cache
def _stamp_pdf(label: str) -> bytes:
    """A one-page PDF holding just the stamp, laid out once per label by WeasyPrint.

    WeasyPrint shapes and embeds the font exactly as in the letters themselves, so the stamped
    draft keeps every font embedded (PDF/A) and the text reads correctly.
    """
    html = (
        "<style>@page{size:120mm 11mm;margin:0}"
        "body{margin:0;font:bold 13pt 'Liberation Sans',sans-serif;color:#c11;"
        "border:1.5pt solid #c11;height:9mm;line-height:9mm;text-align:center;"
        "letter-spacing:1pt}</style><body>" + escape(label) + "</body>"
    )
    import weasyprint  # only drafts need it: verifying letters must not load WeasyPrint

    pdf: bytes = weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")
    return pdf


def _stamp(writer: IncrementalPdfFileWriter, label: str) -> None:
    stamp = writer.import_page_as_xobject(PdfFileReader(io.BytesIO(_stamp_pdf(label))), 0)
    stamp_box = stamp.get_object()["/BBox"]
    stamp_width, stamp_height = float(stamp_box[2]), float(stamp_box[3])
    for index in range(page_count(writer)):
        width, height = page_size(writer, index)
        # top centre, inside the top margin, so no text of the letter is covered
        x, y = (width - stamp_width) / 2, height - stamp_height - 10
        # a name per page: renderers often share one resource dictionary between pages
        name = f"/DocgenDraftStamp{index}"
        operators = f"1 0 0 1 {x:.2f} {y:.2f} cm {name} Do".encode()
        draw_on_page(writer, index, operators, {name: stamp})
