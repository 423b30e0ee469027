"""Taking an uploaded letter off the wire: bounded while it streams, held in memory only.

An upload is either the PDF itself as the request body (the API) or a ``multipart/form-data``
form with one file field (the web pages). Either way its bytes are counted as they arrive and
the request is refused the moment the count passes the limit, before anything is parsed; a
declared ``Content-Length`` over the limit is refused before a byte is read. The file never
touches the disk: it is verified from memory and then dropped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

__all__ = ["FILE_FIELD", "Upload", "UploadRefused", "read_upload"]

FILE_FIELD = "letter"
"""The form field that carries the PDF."""

_FORM_OVERHEAD = 64 * 1024  # a form's boundaries, headers and small fields beside the file


class UploadRefused(Exception):
    """An upload that cannot be taken; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after
        """Seconds after which trying again may succeed (``Retry-After``), when known."""

    def headers(self) -> dict[str, str]:
        """The response headers the refusal calls for."""
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


@dataclass(frozen=True, slots=True)
class Upload:
    """An uploaded file, in memory."""

    data: bytes
    """The file's bytes."""
    name: str
    """The name the client gave it (for the report only; never used as a path)."""


def too_large(limit: int) -> UploadRefused:
    """The refusal of an upload over ``limit`` bytes."""
    return UploadRefused(
        413,
        "too_large",
        f"The file is larger than the limit of {limit // (1024 * 1024)} MB; a letter is far "
        "smaller",
    )


async def read_upload(
    chunks: AsyncIterator[bytes], content_type: str, content_length: str | None, limit: int
) -> Upload:
    """The uploaded PDF from a request body, read within ``limit`` bytes.

    Raises :class:`UploadRefused` for a body over the limit, a form without the file field, or
    an empty file.
    """
    kind, options = parse_options_header(content_type or "")
    is_form = kind == b"multipart/form-data"
    allowed = limit + _FORM_OVERHEAD if is_form else limit
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            message = "The Content-Length header is not a number"
            raise UploadRefused(400, "bad_request", message) from None
        if declared > allowed:
            raise too_large(limit)
    if is_form:
        boundary = options.get(b"boundary")
        if not boundary:
            raise UploadRefused(400, "bad_request", "The form has no multipart boundary")
        upload = await _read_form(chunks, boundary, allowed, limit)
    else:
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise too_large(limit)
        upload = Upload(bytes(body), "upload.pdf")
    if not upload.data:
        raise UploadRefused(400, "empty", "The file is empty: choose the letter's PDF file")
    return upload


class _Form:
    """Collects the file field of a multipart form as the parser walks it."""

    def __init__(self, limit: int):
        self.limit = limit
        self.header_field = bytearray()
        self.header_value = bytearray()
        self.disposition = b""
        self.data = bytearray()
        self.in_file = False
        self.found: Upload | None = None
        self.name = "upload.pdf"

    def part_begin(self) -> None:
        self.disposition = b""
        self.data.clear()
        self.in_file = False

    def header_field_data(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def header_value_data(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def header_end(self) -> None:
        if self.header_field.lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_field.clear()
        self.header_value.clear()

    def headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        if options.get(b"name") == FILE_FIELD.encode() and self.found is None:
            self.in_file = True
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            # only the last path component, and only for the report: never used as a path
            self.name = filename.replace("\\", "/").rsplit("/", 1)[-1][:200] or "upload.pdf"

    def part_data(self, data: bytes, start: int, end: int) -> None:
        if self.in_file:
            self.data += data[start:end]
            if len(self.data) > self.limit:
                raise too_large(self.limit)

    def part_end(self) -> None:
        if self.in_file:
            self.found = Upload(bytes(self.data), self.name)
            self.in_file = False
        self.data.clear()


async def _read_form(
    chunks: AsyncIterator[bytes], boundary: bytes, allowed: int, limit: int
) -> Upload:
    form = _Form(limit)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": form.part_begin,
            "on_header_field": form.header_field_data,
            "on_header_value": form.header_value_data,
            "on_header_end": form.header_end,
            "on_headers_finished": form.headers_finished,
            "on_part_data": form.part_data,
            "on_part_end": form.part_end,
        },
    )
    received = 0
    try:
        async for chunk in chunks:
            received += len(chunk)
            if received > allowed:
                raise too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        raise UploadRefused(400, "bad_request", "The form could not be read") from None
    if form.found is None:
        raise UploadRefused(
            400, "no_file", f"The form has no file in its {FILE_FIELD!r} field: choose a PDF"
        )
    return form.found
