"""PDF finishing shared by both rendering paths: the request attachment and the draft stamp.

Every letter carries its validated request as an associated JSON file (PDF/A-3 allows
attachments with an ``/AFRelationship``), so a receiving system can read the letter's data from
the file itself. A draft additionally gets a stamp on every page, drawn with an embedded font so
the PDF/A stays valid.

Example::

    pdf = finish(pdf, attach=request, draft_text="KONSEP")
    read_request(pdf) == request    # True
"""

from __future__ import annotations

import functools
import hashlib
import io
from datetime import UTC, datetime
from html import escape

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.embed import EmbeddedFileObject, EmbeddedFileParams, FileSpec, embed_file
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.metadata import xmp_xml
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader

from docgen.errors import RenderError
from docgen.models import LetterRequest
from docgen.verify.pdfsyntax import StructureError
from docgen.verify.revisions import first_signature

__all__ = [
    "ATTACHMENT_DESCRIPTION",
    "ATTACHMENT_NAME",
    "attachment_bytes",
    "draw_on_page",
    "finish",
    "keep_xmp_metadata",
    "page_count",
    "page_size",
    "read_request",
    "signed_revision_sha256",
]

ATTACHMENT_NAME = "docgen-request.json"
"""File name of the embedded request in every letter."""
ATTACHMENT_DESCRIPTION = "Data permohonan dan keputusan (JSON) yang menjadi dasar surat ini"
"""Description shown by PDF readers next to the attachment."""


def attachment_bytes(request: LetterRequest) -> bytes:
    """The request as it is embedded: canonical JSON, UTF-8."""
    return request.model_dump_json(indent=2).encode()


def finish(
    pdf: bytes, *, attach: LetterRequest | None = None, draft_text: str | None = None
) -> bytes:
    """Attach the request and/or stamp every page as a draft, in one incremental update."""
    if attach is None and draft_text is None:
        return pdf
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        keep_xmp_metadata(writer)
        if attach is not None:
            _embed(writer, attachment_bytes(attach))
        if draft_text is not None:
            _stamp(writer, draft_text)
        out = io.BytesIO()
        writer.write(out)
    except (PdfError, ValueError, KeyError) as error:
        raise RenderError(f"Could not finish the rendered PDF: {error}") from error
    return out.getvalue()


def keep_xmp_metadata(writer: IncrementalPdfFileWriter) -> None:
    """Make pyHanko update the document's XMP metadata instead of replacing it.

    pyHanko only edits a metadata stream it parsed itself; handed the renderer's plain stream it
    writes a new one, dropping the ``pdfaid`` entries that make the file PDF/A. Parsing the
    existing stream into pyHanko's own type keeps every entry and updates the dates.
    """
    existing = writer.root.get("/Metadata")
    if existing is None:
        return
    stream = existing.get_object()
    if isinstance(stream, xmp_xml.MetadataStream):
        return
    parsed = xmp_xml.MetadataStream.from_xmp(xmp_xml.parse_xmp(io.BytesIO(stream.data)))
    writer.root["/Metadata"] = writer.add_object(parsed)
    writer.update_root()


def _embed(writer: IncrementalPdfFileWriter, data: bytes) -> None:
    now = datetime.now(UTC)
    stream = EmbeddedFileObject.from_file_data(
        writer,
        data=data,
        mime_type="application/json",
        params=EmbeddedFileParams(creation_date=now, modification_date=now),
    )
    spec = FileSpec(
        file_spec_string=ATTACHMENT_NAME,
        file_name=ATTACHMENT_NAME,
        embedded_data=stream,
        description=ATTACHMENT_DESCRIPTION,
        af_relationship=generic.pdf_name("/Data"),
    )
    embed_file(writer, spec)


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


def draw_on_page(
    writer: IncrementalPdfFileWriter,
    index: int,
    operators: bytes,
    xobjects: dict[str, generic.IndirectObject] | None = None,
) -> None:
    """Draw PDF operators over a page, in default page coordinates.

    The page's own content may leave its coordinate system changed (WeasyPrint flips it without
    ``q``/``Q``), so the existing content is wrapped in ``q ... Q`` first.
    """
    resources = None
    if xobjects:
        resources = generic.DictionaryObject(
            {
                generic.pdf_name("/XObject"): generic.DictionaryObject(
                    {generic.pdf_name(name): ref for name, ref in xobjects.items()}
                )
            }
        )
    opening = generic.StreamObject(stream_data=b"q\n")
    writer.add_stream_to_page(index, writer.add_object(opening), prepend=True)
    drawing = generic.StreamObject(stream_data=b"\nQ q\n" + operators + b"\nQ\n")
    writer.add_stream_to_page(index, writer.add_object(drawing), resources=resources)


def page_size(writer: IncrementalPdfFileWriter, index: int) -> tuple[float, float]:
    """Width and height of a page, in points."""
    page = writer.find_page_for_modification(index)[0].get_object()
    box = page["/MediaBox"]
    return float(box[2]) - float(box[0]), float(box[3]) - float(box[1])


def page_count(writer: IncrementalPdfFileWriter) -> int:
    """How many pages the document has."""
    return int(writer.root["/Pages"]["/Count"])


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


def signed_revision_sha256(pdf: bytes) -> str | None:
    """SHA-256 of the bytes the first signature covers, up to the end of its revision.

    This identifies a letter across the updates that long-term validation appends later
    (validation data, document timestamps), which change the file but not the signed letter.
    None when the file has no sound signature. Read from the raw bytes, as verification reads
    them, without parsing the PDF.
    """
    try:
        signed = first_signature(pdf)
    except StructureError:
        return None
    return hashlib.sha256(pdf[: signed.end]).hexdigest()


def read_request(pdf: bytes) -> LetterRequest:
    """Read back the request embedded in a letter; :class:`RenderError` if it has none."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        names = reader.root["/Names"]["/EmbeddedFiles"]["/Names"]
        for index in range(0, len(names), 2):
            if str(names[index]) == ATTACHMENT_NAME:
                spec = names[index + 1].get_object()
                data = spec["/EF"]["/F"].get_object().data
                return LetterRequest.from_json(data, source=ATTACHMENT_NAME)
    except (PdfError, KeyError, TypeError, ValueError) as error:
        raise RenderError(f"The PDF carries no readable request data: {error}") from None
    raise RenderError("The PDF carries no request data")
