"""What a signed letter shows: the verification QR code and the visible signature, and where.

Templates reserve the two spaces with named destinations (an ``id`` in HTML, a bookmark in
DOCX): :data:`SIGNATURE_ANCHOR` and :data:`QR_ANCHOR` mark the top-left corner of each space.
Without them, the signature goes to the bottom right of the last page and the QR code to the
bottom left.

The signature's appearance text is laid out by WeasyPrint (so its font is embedded and the PDF/A
stays valid) and kept for reuse: a batch signed by one official within one minute lays it out
once. Signing itself (:mod:`docgen.sign.pades`) only places what this module draws.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from html import escape

import qrcode
from pyhanko.pdf_utils import content, generic, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from docgen._pdf import draw_on_page, page_count, page_size
from docgen.sign.remote import SignatureField

__all__ = [
    "QR_ANCHOR",
    "QR_SIZE",
    "SIGNATURE_ANCHOR",
    "SIGNATURE_SIZE",
    "PdfPageContent",
    "place_qr_and_signature",
    "qr_operators",
    "signature_appearance",
]

SIGNATURE_ANCHOR = "docgenSignatureBox"
"""Named destination marking the top-left corner of the signature space."""
QR_ANCHOR = "docgenQrBox"
"""Named destination marking the top-left corner of the QR code space."""

_MM = 72 / 25.4
SIGNATURE_SIZE = (70 * _MM, 28 * _MM)
"""Width and height of the visible signature, in points."""
QR_SIZE = 24 * _MM
"""Side of the QR code, in points."""

# Any of the eight masks gives a valid code; python-qrcode otherwise tries all eight and scores
# each, which costs five times the rest of making the code.
_QR_MASK = 0


@dataclass(frozen=True, slots=True)
class _Anchor:
    page: int
    left: float
    top: float


def _anchors(writer: IncrementalPdfFileWriter) -> dict[str, _Anchor]:
    """Named destinations, from a name tree (WeasyPrint) or a /Dests dictionary (LibreOffice)."""
    pages = [
        writer.find_page_for_modification(index)[0].idnum for index in range(page_count(writer))
    ]
    found: dict[str, generic.PdfObject] = {}
    root = writer.root
    names = root.get("/Names")
    if names is not None and "/Dests" in names.get_object():
        entries = names.get_object()["/Dests"].get_object().get("/Names", [])
        for index in range(0, len(entries) - 1, 2):
            found[str(entries[index])] = entries[index + 1]
    if "/Dests" in root:
        for key, value in root["/Dests"].get_object().items():
            # LibreOffice writes bookmark names with some characters hex-escaped
            found[str(key).lstrip("/")] = value
    anchors = {}
    for name, value in found.items():
        destination = value.get_object()
        if isinstance(destination, generic.DictionaryObject):
            destination = destination.get("/D")
        try:
            page = pages.index(destination.raw_get(0).idnum)  # plain [0] dereferences
            anchors[name] = _Anchor(page, float(destination[2]), float(destination[3]))
        except (ValueError, IndexError, TypeError, AttributeError):
            continue
    return anchors


def qr_operators(url: str, left: float, bottom: float, size: float) -> bytes:
    """A QR code as filled rectangles, one per run of dark modules: crisp at any zoom, no image."""
    code = qrcode.QRCode(
        border=0, error_correction=qrcode.constants.ERROR_CORRECT_M, mask_pattern=_QR_MASK
    )
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    module = size / len(matrix)
    rectangles = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            run = x
            while x < len(row) and row[x]:
                x += 1
            rectangles.append(
                f"{left + run * module:.3f} {bottom + size - (y + 1) * module:.3f} "
                f"{(x - run) * module:.3f} {module:.3f} re"
            )
    return ("0 g\n" + "\n".join(rectangles) + "\nf").encode()


def place_qr_and_signature(
    writer: IncrementalPdfFileWriter, verification_url: str, field_name: str
) -> SignatureField:
    """Draw the QR code in its space, and say where the signature goes."""
    anchors = _anchors(writer)
    last = page_count(writer) - 1
    width, _ = page_size(writer, last)
    qr = anchors.get(QR_ANCHOR, _Anchor(last, 56.0, 40.0 + QR_SIZE))
    draw_on_page(
        writer, qr.page, qr_operators(verification_url, qr.left, qr.top - QR_SIZE, QR_SIZE)
    )
    box_width, box_height = SIGNATURE_SIZE
    spot = anchors.get(SIGNATURE_ANCHOR, _Anchor(last, width - box_width - 56, 200.0))
    box = (int(spot.left), int(spot.top - box_height), int(spot.left + box_width), int(spot.top))
    return SignatureField(field_name, spot.page, box)


@functools.lru_cache(maxsize=64)
def signature_appearance(heading: str, name: str, position: str, when: str) -> bytes:
    """The visible signature as a one-page PDF, laid out once per official and minute."""
    import weasyprint  # only signing needs it: verifying letters must not load WeasyPrint

    width, height = SIGNATURE_SIZE
    html = (
        f"<style>@page{{size:{width:.2f}pt {height:.2f}pt;margin:0}}"
        "body{margin:0;padding:2mm 3mm;font:7.5pt/1.3 'Liberation Sans',sans-serif;color:#000;"
        "border:0.6pt solid #1a4f8b;height:100%;box-sizing:border-box}"
        "p{margin:0}.name{font-weight:bold;font-size:8.5pt;margin-top:1mm}"
        ".small{color:#333}</style>"
        f"<p class=small>{escape(heading)}</p><p class=name>{escape(name)}</p>"
        f"<p>{escape(position)}</p><p class=small>{escape(when)}</p>"
    )
    pdf: bytes = weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")
    return pdf


class PdfPageContent(content.PdfContent):
    """pyHanko content that imports the first page of an in-memory PDF (the appearance)."""

    def __init__(self, pdf: bytes):
        """Keep the PDF; its page is imported when pyHanko renders the content."""
        super().__init__()
        self._pdf = pdf

    def render(self) -> bytes:
        """Import the page as a form XObject and draw it."""
        xobject = self._ensure_writer.import_page_as_xobject(PdfFileReader(io.BytesIO(self._pdf)))
        self.resources.xobject["/Appearance"] = xobject
        x1, y1, x2, y2 = xobject.get_object()["/BBox"]
        self.box = layout.BoxConstraints(width=abs(x2 - x1), height=abs(y2 - y1))
        return b"/Appearance Do"
