"""Hostile files for the resource-abuse tests: loops, deep nesting, bombs, absurd sizes, and
thousands of revisions. Small files are built whole; the others are updates to a real letter.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable, Sequence

from tests.attacks.builders import duplicate_xref_stream_quantity, raw_copy, root_ref
from tests.attacks.rawpdf import Update, read, serialize, stream_body

__all__ = [
    "HOSTILE_FILES",
    "HOSTILE_UPDATES",
    "bomb",
    "many_revisions",
    "pdf_of",
]

DEPTH = 100_000
"""How deep the nested arrays go (the issue's RecursionError)."""
BOMB_BYTES = 256 * 1024 * 1024
"""What the decompression bomb expands to, from about two kilobytes."""


def pdf_of(bodies: Sequence[bytes], *, root: int = 1) -> bytes:
    """A complete one-revision PDF of these object bodies (numbered 1, 2, ...)."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f\r\n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n\r\n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        root,
        table,
    )
    return bytes(out)


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


HOSTILE_FILES: dict[str, bytes] = {
    "root-is-itself": pdf_of([b"1 0 R"]),
    "root-refers-to-itself": pdf_of(
        [b"<< /Type /Catalog /Pages 1 0 R /AcroForm 1 0 R /Fields [1 0 R] /Kids [1 0 R] >>"]
    ),
    "circular-references": pdf_of([b"2 0 R", b"3 0 R", b"1 0 R"]),
    "circular-page-tree": pdf_of(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>",
        ]
    ),
    "arrays-nested-100000-deep": pdf_of(
        [b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields " + _nested(DEPTH) + b" >> >>"]
    ),
    "dictionaries-nested-100000-deep": pdf_of(
        [b"<< /Type /Catalog /Pages " + b"<< /A " * DEPTH + b"1" + b" >>" * DEPTH + b" >>"]
    ),
    "startxref-loop": b"%PDF-1.7\nxref\n0 1\n0000000000 65535 f\r\n"
    b"trailer\n<< /Size 1 /Root 1 0 R /Prev 9 >>\nstartxref\n9\n%%EOF\n",
}
"""Small hostile PDFs, unsigned: each must end in a report, never an exception or a hang."""


def _catalog_with(pdf: bytes, key: bytes, value: bytes, extra: Sequence[bytes] = ()) -> bytes:
    """The letter with an update adding ``key value`` to a copy of its catalog.

    ``extra`` object bodies are added under fresh numbers; ``SELF`` in a body stands for its
    own number, ``FIRST`` in ``value`` for the first extra object's.
    """
    update = Update(pdf)
    ref = root_ref(update)
    copy = raw_copy(ref.get_object())
    copy.pop(key.decode(), None)  # replaced, not defined twice
    catalog = serialize(copy)
    assert catalog.endswith(b">>")
    numbers = [update.new_number() for _ in extra]
    for number, body in zip(numbers, extra, strict=True):
        update.add(number, body.replace(b"SELF", b"%d" % number))
    if numbers:
        value = value.replace(b"FIRST", b"%d" % numbers[0])
    update.add(ref.idnum, catalog[:-2] + b" " + key + b" " + value + b" >>")
    update.entries.sort(key=lambda entry: entry.number)
    return update.table()


def self_referencing_update(pdf: bytes) -> bytes:
    """An update whose catalog names an object that is a reference to itself."""
    return _catalog_with(pdf, b"/DocgenLoop", b"FIRST 0 R", [b"SELF 0 R"])


def circular_update(pdf: bytes) -> bytes:
    """An update whose form gains a field that is its own kid and parent (a cycle)."""
    fields = read(pdf).root["/AcroForm"].raw_get("/Fields")
    listed = b" ".join(serialize(fields.raw_get(index)) for index in range(len(fields)))
    form = b"<< /Fields [%s FIRST 0 R] /SigFlags 3 >>" % listed
    field = b"<< /FT /Sig /T (Lingkaran) /Kids [SELF 0 R] /Parent SELF 0 R >>"
    return _catalog_with(pdf, b"/AcroForm", form, [field])


def deep_update(pdf: bytes) -> bytes:
    """An update whose catalog holds arrays nested 100,000 deep."""
    return _catalog_with(pdf, b"/DocgenDeep", _nested(DEPTH))


@functools.cache
def bomb() -> bytes:
    """A Flate stream twice compressed: about two kilobytes that expand to 256 MiB of zeros."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1 << 20)
    inner = b"".join(compressor.compress(chunk) for _ in range(BOMB_BYTES >> 20))
    inner += compressor.flush()
    return zlib.compress(inner, 9)


def bomb_update(pdf: bytes) -> bytes:
    """An update that replaces the XMP metadata (which letters' updates rewrite) with a bomb."""
    update = Update(pdf)
    ref = update.reader.root.raw_get("/Metadata")
    data = bomb()
    update.add(
        ref.idnum,
        b"<< /Type /Metadata /Subtype /XML /Filter [/FlateDecode /FlateDecode] /Length %d >>"
        b"\nstream\n%s\nendstream" % (len(data), data),
    )
    return update.table()


def huge_length_update(pdf: bytes) -> bytes:
    """An update with a stream whose /Length claims a petabyte."""
    update = Update(pdf)
    ref = update.reader.root.raw_get("/Metadata")
    update.add(
        ref.idnum,
        b"<< /Type /Metadata /Subtype /XML /Length 1000000000000000 >>\nstream\nx\nendstream",
    )
    return update.table()


def huge_size_update(pdf: bytes) -> bytes:
    """An update whose trailer claims two billion objects, one of them listed near the top."""
    update = Update(pdf)
    update.size = 2_000_000_000
    update.add(update.size - 1, stream_body(b"x"))
    update.copy(root_ref(update).idnum)
    return update.table()


def prev_loop_update(pdf: bytes) -> bytes:
    """An update whose /Prev points at its own cross-reference table."""
    update = Update(pdf)
    update.copy(root_ref(update).idnum)
    update.prev = update.offset
    return update.table()


HOSTILE_UPDATES: dict[str, Callable[[bytes], bytes]] = {
    "self-referencing-object": self_referencing_update,
    "circular-field-tree": circular_update,
    "arrays-nested-100000-deep": deep_update,
    "duplicate-in-xref-stream": duplicate_xref_stream_quantity,
    "decompression-bomb": bomb_update,
    "huge-length": huge_length_update,
    "huge-size": huge_size_update,
    "prev-loop": prev_loop_update,
}
"""Hostile updates appended to a genuine letter: each must end in a report that is not VALID."""


def many_revisions(pdf: bytes, count: int) -> bytes:
    """The letter with ``count`` tiny updates, each relisting an identical copy of the catalog.

    Built in one pass (a per-update reader would be quadratic too): every update is allowed by
    pyHanko's difference analysis, which ignores identical objects.
    """
    update = Update(pdf)
    ref = root_ref(update)
    catalog = serialize(ref.get_object())
    keys = b"/Size %d /Root %s" % (update.size, update.root)
    if update.info:
        keys += b" /Info " + update.info
    if update.file_id:
        keys += b" /ID " + update.file_id
    out = bytearray(pdf)
    prev = update.prev
    assert prev is not None
    for _ in range(count):
        if not out.endswith(b"\n"):
            out += b"\n"
        at = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (ref.idnum, catalog)
        table = len(out)
        out += b"xref\n%d 1\n%010d 00000 n\r\n" % (ref.idnum, at)
        out += b"trailer\n<< %s /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (keys, prev, table)
        prev = table
    return bytes(out)
