"""The revisions that follow a letter's signed revision, read strictly from the raw bytes.

An issued letter is its signed revision followed by a few incremental updates (validation data,
document timestamps). :func:`read_updates` reads those updates front to back, byte by byte: each
must be a run of ``n g obj ... endobj`` objects, then its cross-reference section (a classic
table and trailer, or a cross-reference stream), then ``startxref``, its offset and ``%%EOF``.
Everything between is accounted for, so nothing can hide in an update where one reader would
find it and another would not. Each update's cross-reference section must list exactly the
objects written in it, each once, at the offsets where they are; its ``/Prev`` must name the
update before. :func:`agree_with_pyhanko` then checks that pyHanko reads the same revisions,
the same objects and the same offsets.

Example::

    signed = signed_revision(data, byte_range)           # where the signature's revision ends
    updates = read_updates(data, signed, max_revisions=100)
    agree_with_pyhanko(reader, signed, updates)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyhanko.pdf_utils.reader import PdfFileReader

from docgen.verify.pdfsyntax import (
    IndirectObject,
    Name,
    PdfValue,
    Stream,
    StructureError,
    XrefEntry,
    parse_indirect_object,
    parse_xref_stream,
    parse_xref_table,
    skip_whitespace,
)

__all__ = [
    "SignedRevision",
    "TooManyRevisions",
    "Update",
    "agree_with_pyhanko",
    "check_gap",
    "first_signature",
    "read_updates",
    "signed_revision",
]

_STARTXREF = re.compile(
    rb"startxref[\x00\t\x0c ]*\r?\n?(\d{1,19})[\x00\t\x0c ]*\r?\n?%%EOF(\r\n|\r|\n)?"
)
_SIGNED_END = re.compile(_STARTXREF.pattern + rb"\Z")
# at most 19 digits (any offset fits in 64 bits): a longer run is no number Python should read
_BYTE_RANGE = re.compile(
    rb"/ByteRange\s*\[\s*(\d{1,19})\s+(\d{1,19})\s+(\d{1,19})\s+(\d{1,19})\s*\]"
)
_HEX_GAP = re.compile(rb"<[0-9A-Fa-f]*>")
_CONTENTS_KEY = re.compile(rb"/Contents[\x00\t\n\x0c\r ]*\Z")
_LINE_ENDS = b"\r\n"


class TooManyRevisions(StructureError):
    """More revisions follow the signature than any issued letter has."""


@dataclass(frozen=True, slots=True)
class SignedRevision:
    """The signed revision: it ends at ``end``, its cross-reference section is at ``startxref``."""

    end: int
    startxref: int
    byte_range: tuple[int, int, int, int]
    """The signature's /ByteRange, as read from the raw bytes."""


@dataclass(frozen=True, slots=True)
class Update:
    """One incremental update after the signed revision, as this reader found it."""

    start: int
    end: int
    startxref: int
    objects: dict[int, IndirectObject]
    """Every object written in the update, by number (its cross-reference stream included)."""
    trailer: dict[Name, PdfValue]
    """The trailer dictionary (a cross-reference stream's dictionary, for such an update)."""
    xref_stream: int | None
    """The object number of the update's cross-reference stream, if it has one."""


def signed_revision(data: bytes, byte_range: list[int]) -> SignedRevision:
    """Check the signature's byte range and gap; where the signed revision ends.

    The ranges must start at byte 0 and end at a revision's ``%%EOF``, and the gap between them
    must be exactly the hexadecimal ``/Contents`` string, so nothing unsigned can sit there.
    """
    if len(byte_range) != 4 or not all(type(value) is int for value in byte_range):
        raise StructureError("the signature's /ByteRange is not four integers")
    start, first_length, second_start, second_length = byte_range
    end = second_start + second_length
    if start != 0 or not 0 < first_length < second_start <= end <= len(data):
        raise StructureError(f"the signature's /ByteRange {byte_range} does not fit the file")
    check_gap(data, first_length, second_start)
    match = _SIGNED_END.search(data[max(0, end - 64) : end])
    if match is None:
        raise StructureError("the signed bytes do not end with a revision's %%EOF")
    return SignedRevision(
        end, int(match.group(1)), (start, first_length, second_start, end - second_start)
    )


def first_signature(data: bytes) -> SignedRevision:
    """The revision the letter's signature covers, read from the raw bytes alone.

    The letter's signature is the first one in the file (everything later is appended), so its
    byte range is the first ``/ByteRange`` in the raw bytes.
    """
    match = _BYTE_RANGE.search(data)
    if match is None:
        raise StructureError("the strict reader finds no signature byte range")
    return signed_revision(data, [int(value) for value in match.groups()])


def check_gap(data: bytes, gap_start: int, gap_end: int) -> None:
    """The unsigned gap of a signature must be its ``/Contents`` hexadecimal string alone."""
    if not _HEX_GAP.fullmatch(data, gap_start, gap_end):
        raise StructureError(
            "the signature's unsigned gap holds something other than its hexadecimal "
            "/Contents (signature wrapping)"
        )
    if not _CONTENTS_KEY.search(data, max(0, gap_start - 64), gap_start):
        raise StructureError("the signature's unsigned gap is not the value of its /Contents")


def read_updates(data: bytes, signed: SignedRevision, *, max_revisions: int) -> list[Update]:
    """Read every update after the signed revision; :class:`StructureError` when malformed."""
    updates: list[Update] = []
    position = signed.end
    previous = signed.startxref
    while True:
        position = _skip_line_ends(data, position)
        if position >= len(data):
            return updates
        if len(updates) >= max_revisions:
            raise TooManyRevisions(
                f"more than {max_revisions} revisions follow the signature; an issued letter "
                "has a few (validation data and document timestamps)"
            )
        update = _read_update(data, position, previous)
        updates.append(update)
        position, previous = update.end, update.startxref


def _skip_line_ends(data: bytes, position: int) -> int:
    while position < len(data) and data[position] in _LINE_ENDS:
        position += 1
    return position


def _read_update(data: bytes, start: int, previous_startxref: int) -> Update:
    objects: dict[int, IndirectObject] = {}
    position = start
    entries: list[XrefEntry]
    while True:
        position = skip_whitespace(data, position)
        if data[position : position + 4] == b"xref":
            xref_at = position
            entries, trailer, position = parse_xref_table(data, position, limit=len(data))
            xref_stream = None
            break
        if data[position : position + 9] == b"startxref":
            stream_object = _last_object(objects, start)
            if not isinstance(stream_object.value, Stream):
                raise StructureError(f"the update at byte {start} has no cross-reference section")
            xref_at = stream_object.offset
            trailer = stream_object.value.dictionary
            if trailer.get(Name("/Type")) != "/XRef":
                raise StructureError(f"the update at byte {start} has no cross-reference section")
            entries = parse_xref_stream(stream_object.value)
            xref_stream = stream_object.number
            break
        found, position = parse_indirect_object(data, position, limit=len(data))
        if found.number in objects:
            raise StructureError(f"the update at byte {start} writes object {found.number} twice")
        objects[found.number] = found
    match = _STARTXREF.match(data, skip_whitespace(data, position))
    if match is None:
        raise StructureError(f"the update at byte {start} does not end with startxref and %%EOF")
    startxref = int(match.group(1))
    if startxref != xref_at:
        raise StructureError(
            f"the update at byte {start} points to a cross-reference section at byte "
            f"{startxref}, but its own is at byte {xref_at}"
        )
    if trailer.get(Name("/Prev")) != previous_startxref:
        raise StructureError(f"the update at byte {start} does not follow the revision before it")
    for key in ("/XRefStm", "/Encrypt"):
        if Name(key) in trailer:
            raise StructureError(f"the update at byte {start} has {key} in its trailer")
    _check_entries(entries, objects, start)
    return Update(start, match.end(), startxref, objects, trailer, xref_stream)


def _last_object(objects: dict[int, IndirectObject], start: int) -> IndirectObject:
    if not objects:
        raise StructureError(f"the update at byte {start} is empty")
    return max(objects.values(), key=lambda found: found.offset)


def _check_entries(
    entries: list[XrefEntry], objects: dict[int, IndirectObject], start: int
) -> None:
    """The section lists each object of the update once, where it is, and nothing else."""
    listed: set[int] = set()
    for entry in entries:
        if entry.number in listed:
            # readers differ on which of two entries counts: the attack this check exists for
            raise StructureError(
                f"the update at byte {start} lists object {entry.number} twice in its "
                "cross-reference section"
            )
        listed.add(entry.number)
        if entry.compressed:
            raise StructureError(
                f"the update at byte {start} places object {entry.number} in an object stream"
            )
        if entry.offset is None:
            if entry.number == 0 and entry.generation == 65535:
                continue  # the head of the free list every table starts with
            raise StructureError(f"the update at byte {start} deletes object {entry.number}")
        written = objects.get(entry.number)
        if written is None or (written.offset, written.generation) != (
            entry.offset,
            entry.generation,
        ):
            raise StructureError(
                f"the update at byte {start} lists object {entry.number} at byte "
                f"{entry.offset}, where it is not written"
            )
    unlisted = sorted(set(objects) - listed)
    if unlisted:
        raise StructureError(
            f"the update at byte {start} writes object {unlisted[0]} without listing it"
        )


def agree_with_pyhanko(reader: PdfFileReader, signed: SignedRevision, updates: list[Update]) -> int:
    """Check pyHanko reads the same revisions and objects; the signed revision's index.

    pyHanko keeps its cross-reference bookkeeping in internal classes; reading them is the only
    way to see what it resolved. If they change shape the check fails, closed.
    """
    xrefs = reader.xrefs
    index = int(xrefs.total_revisions) - 1 - len(updates)
    if index < 0 or xrefs.get_startxref_for_revision(index) != signed.startxref:
        raise StructureError("pyHanko reads a different number of revisions")
    for offset, update in enumerate(updates, start=index + 1):
        if xrefs.get_startxref_for_revision(offset) != update.startxref:
            raise StructureError(f"pyHanko reads the update at byte {update.start} elsewhere")
        data = xrefs.get_xref_data(offset)
        seen = {(number, generation) for number, generation in data.explicit_refs_in_revision}
        mine = {(found.number, found.generation) for found in update.objects.values()}
        placed = {number: location for number, (_, location) in data.standard_xrefs.items()}
        if (
            seen != mine
            or data.freed
            or data.xrefs_in_objstm
            or data.hybrid is not None
            or placed != {found.number: found.offset for found in update.objects.values()}
        ):
            raise StructureError(
                f"pyHanko reads the update at byte {update.start} differently from a strict reader"
            )
    return index
