"""Low-level PDF helpers shared by rendering, signing, verification and the Issuer (private).

One place for what the stages do to a PDF below the level of a letter: open it for an
incremental update that keeps its PDF/A metadata, draw on a page, embed the request, read it
back, and identify the signed revision of a letter from its raw bytes.
"""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

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
    "embed_request",
    "open_update",
    "page_count",
    "page_size",
    "read_request",
    "read_request_json",
    "signed_revision_sha256",
]

ATTACHMENT_NAME = "docgen-request.json"
"""File name of the embedded request in every letter."""
ATTACHMENT_DESCRIPTION = "Data permohonan dan keputusan (JSON) yang menjadi dasar surat ini"
"""Description shown by PDF readers next to the attachment."""


def attachment_bytes(request: LetterRequest) -> bytes:
    """The request as it is embedded: canonical JSON, UTF-8."""
    return request.model_dump_json(indent=2).encode()


def open_update(pdf: bytes) -> IncrementalPdfFileWriter:
    """An incremental update of ``pdf`` that keeps its XMP metadata (and so its PDF/A mark).

    pyHanko only edits a metadata stream it parsed itself; handed the renderer's plain stream it
    writes a new one, dropping the ``pdfaid`` entries that make the file PDF/A. Parsing the
    existing stream into pyHanko's own type keeps every entry and updates the dates.
    """
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    existing = writer.root.get("/Metadata")
    if existing is not None and not isinstance(
        stream := existing.get_object(), xmp_xml.MetadataStream
    ):
        parsed = xmp_xml.MetadataStream.from_xmp(xmp_xml.parse_xmp(io.BytesIO(stream.data)))
        writer.root["/Metadata"] = writer.add_object(parsed)
        writer.update_root()
    return writer


def embed_request(writer: IncrementalPdfFileWriter, request: LetterRequest) -> None:
    """Attach the request as the letter's associated data file (PDF/A-3 ``/Data``)."""
    now = datetime.now(UTC)
    stream = EmbeddedFileObject.from_file_data(
        writer,
        data=attachment_bytes(request),
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
    version = writer.root.get("/Version"), writer.output_version
    embed_file(writer, spec)
    # pyHanko declares PDF 2.0 for an /AF entry, but a PDF/A-3 file is PDF 1.7 (ISO 19005-3
    # defines /AF for it): a catalog saying 2.0 contradicts the file's own PDF/A-3 mark.
    if version[0] is None:
        writer.root.pop("/Version", None)
    else:
        writer.root["/Version"] = version[0]
    writer.output_version = version[1]


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
    return LetterRequest.from_json(read_request_json(pdf), source=ATTACHMENT_NAME)


def read_request_json(pdf: bytes, *, only: bool = False) -> bytes:
    """The request JSON embedded in a letter, unparsed; :class:`RenderError` if it has none.

    With ``only``, the letter must hold it as docgen writes it and nothing that another reader
    could take for it instead: one embedded file, listed once, with no ``/Kids`` in the name
    tree, its file specification's ``/F`` and ``/UF`` the same stream, and the catalog's
    ``/AF`` naming that same file specification (readers differ in which of two they show).
    """
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        tree = reader.root["/Names"]["/EmbeddedFiles"]
        names = tree["/Names"]
        if only:
            _only_one_request(reader, tree, names)
        for index in range(0, len(names), 2):
            if str(names[index]) == ATTACHMENT_NAME:
                spec = names[index + 1].get_object()
                data: bytes = spec["/EF"]["/F"].get_object().data
                return data
    except (PdfError, KeyError, TypeError, ValueError) as error:
        raise RenderError(f"The PDF carries no readable request data: {error}") from None
    raise RenderError("The PDF carries no request data")


def _only_one_request(reader: PdfFileReader, tree: Any, names: Any) -> None:
    """Refuse request data that two readers could read differently (see read_request_json)."""
    if "/Kids" in tree or len(names) != 2 or str(names[0]) != ATTACHMENT_NAME:
        raise RenderError("The PDF's embedded files are not just the one request")
    spec_ref = names.raw_get(1)
    spec = spec_ref.get_object()
    streams = spec["/EF"]
    if set(streams) - {"/F", "/UF"} or (
        "/UF" in streams and streams.raw_get("/UF") != streams.raw_get("/F")
    ):
        raise RenderError("The PDF's request file holds more than one stream")
    for key in ("/F", "/UF"):
        if key in spec and str(spec[key]) != ATTACHMENT_NAME:
            raise RenderError("The PDF's request file is named otherwise")
    # pyHanko's get() leaves a reference unresolved; [] resolves it
    associated = reader.root["/AF"] if "/AF" in reader.root else None  # noqa: SIM401
    if associated is not None and (len(associated) != 1 or associated.raw_get(0) != spec_ref):
        raise RenderError("The PDF's associated files are not just the one request")
