"""A small, strict reader of raw PDF syntax: objects, streams and cross-reference sections.

Verification reads what follows a letter's signature with this reader as well as with pyHanko,
so that no construct two readers resolve differently can slip through (SECURITY.md, "parser
differentials"). It is deliberately unforgiving: it accepts the plain syntax that pyHanko writes
for validation data and document timestamps, and raises :class:`StructureError` for anything
odd — a dictionary with a key twice, an object number listed twice in one cross-reference
section, a stream whose ``/Length`` does not land on ``endstream``, nesting deeper than a
letter ever needs. It never recurses, never decompresses more than a bounded amount, and reads
only the bytes it is given.

Values are plain Python: ``int``, :class:`~decimal.Decimal` for reals, ``bool``, ``None`` for
``null``, :class:`Name` (a ``str`` with the leading slash, as pyHanko spells names), ``bytes``
for strings, ``list``, ``dict`` keyed by :class:`Name`, :class:`Ref` and :class:`Stream`.

Example::

    value, end = parse_object(data, offset)              # the object written at ``offset``
    table, trailer, end = parse_xref_table(data, offset)
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "MAX_DEPTH",
    "IndirectObject",
    "Name",
    "PdfValue",
    "Ref",
    "Stream",
    "StructureError",
    "XrefEntry",
    "decode_stream",
    "parse_indirect_object",
    "parse_xref_stream",
    "parse_xref_table",
    "skip_whitespace",
]

MAX_DEPTH = 32
"""Deepest nesting of arrays and dictionaries accepted (docgen's updates need 4)."""
_MAX_DECODED = 16 * 1024 * 1024  # a cross-reference or metadata stream is never near this


class StructureError(Exception):
    """The bytes are not the plain, unambiguous PDF syntax this reader accepts."""


class Name(str):
    """A PDF name, with its leading slash (``/Type``)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Ref:
    """An indirect reference ``number generation R``."""

    number: int
    generation: int


@dataclass(frozen=True, slots=True)
class Stream:
    """A stream: its dictionary and its bytes as written (still encoded)."""

    dictionary: dict[Name, PdfValue]
    raw: bytes


PdfValue = (
    int
    | Decimal
    | bool
    | None
    | Name
    | bytes
    | Ref
    | Stream
    | list["PdfValue"]
    | dict[Name, "PdfValue"]
)


@dataclass(frozen=True, slots=True)
class IndirectObject:
    """An object as written in the file: ``number generation obj ... endobj`` at ``offset``."""

    number: int
    generation: int
    offset: int
    value: PdfValue


@dataclass(frozen=True, slots=True)
class XrefEntry:
    """One cross-reference entry: in use at ``offset``, or free (``offset`` None)."""

    number: int
    generation: int
    offset: int | None
    compressed: bool = False
    """True for an entry that places the object inside an object stream (type 2)."""


_WHITESPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"
_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")
_LONGEST_NUMBER = 40  # characters: PDF's numbers are 32-bit integers and reals of 5 decimals
_REGULAR = re.compile(rb"[^\x00\t\n\x0c\r ()<>\[\]{}/%]*")
_HEX = re.compile(rb"[0-9A-Fa-f\x00\t\n\x0c\r ]*")
_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("f"): b"\f"}


def skip_whitespace(data: bytes, position: int) -> int:
    """The first position at or after ``position`` that is not white space or a comment."""
    length = len(data)
    while position < length:
        byte = data[position]
        if byte in _WHITESPACE:
            position += 1
        elif byte == 0x25:  # % comment, to the end of the line
            while position < length and data[position] not in b"\r\n":
                position += 1
        else:
            break
    return position


def _expect(data: bytes, position: int, keyword: bytes) -> int:
    """The position after ``keyword`` at ``position`` (white space skipped first)."""
    position = skip_whitespace(data, position)
    end = position + len(keyword)
    if data[position:end] != keyword or (end < len(data) and data[end] not in _separators()):
        found = data[position : position + 20]
        raise StructureError(f"expected {keyword.decode()!r} at byte {position}, found {found!r}")
    return end


def _separators() -> bytes:
    return _WHITESPACE + _DELIMITERS


def _integer(data: bytes, position: int) -> tuple[int, int] | None:
    """The unsigned integer at ``position`` and the position after it, if there is one."""
    # at most 19 digits: every number a letter needs fits in 64 bits, and Python refuses to read
    # a run of more than 4,300 digits (a ValueError, not a verdict)
    match = re.compile(rb"\d{1,19}(?!\d)").match(data, position)
    if match is None or (match.end() < len(data) and data[match.end()] not in _separators()):
        return None
    return int(match.group()), match.end()


def _literal_string(data: bytes, position: int) -> tuple[bytes, int]:
    """The literal string whose ``(`` is at ``position``, unescaped, and the position after it."""
    out = bytearray()
    depth = 1
    position += 1
    length = len(data)
    while position < length:
        byte = data[position]
        if byte == 0x5C:  # backslash
            position += 1
            if position >= length:
                break
            escaped = data[position]
            if escaped in _ESCAPES:
                out += _ESCAPES[escaped]
                position += 1
            elif escaped in b"01234567":
                digits = re.compile(rb"[0-7]{1,3}").match(data, position)
                assert digits is not None
                out.append(int(digits.group(), 8) & 0xFF)
                position = digits.end()
            elif escaped == 0x0D:  # line continuation
                position += 2 if data[position + 1 : position + 2] == b"\n" else 1
            elif escaped == 0x0A:
                position += 1
            else:
                out.append(escaped)
                position += 1
            continue
        if byte == 0x28:
            depth += 1
        elif byte == 0x29:
            depth -= 1
            if depth == 0:
                return bytes(out), position + 1
        out.append(byte)
        position += 1
    raise StructureError("a string is not closed")


def _hex_string(data: bytes, position: int) -> tuple[bytes, int]:
    match = _HEX.match(data, position + 1)
    assert match is not None
    end = match.end()
    if data[end : end + 1] != b">":
        raise StructureError(f"a hexadecimal string at byte {position} holds other characters")
    digits = bytes(byte for byte in match.group() if byte not in _WHITESPACE)
    if len(digits) % 2:
        digits += b"0"
    return bytes.fromhex(digits.decode()), end + 1


def _name(data: bytes, position: int) -> tuple[Name, int]:
    match = _REGULAR.match(data, position + 1)
    assert match is not None
    raw = match.group()
    if b"#" in raw:
        try:
            raw = re.sub(rb"#([0-9A-Fa-f]{2})", lambda m: bytes.fromhex(m.group(1).decode()), raw)
        except ValueError:
            raise StructureError(f"a malformed name at byte {position}") from None
    return Name("/" + raw.decode("latin-1")), match.end()


class _Container:
    """An array or dictionary being read."""

    __slots__ = ("items", "start")

    def __init__(self, start: bytes):
        self.start = start
        self.items: list[PdfValue] = []


def _close_dictionary(items: list[PdfValue], position: int) -> dict[Name, PdfValue]:
    if len(items) % 2:
        raise StructureError(f"a dictionary ending at byte {position} has a key without a value")
    result: dict[Name, PdfValue] = {}
    for index in range(0, len(items), 2):
        key = items[index]
        if not isinstance(key, Name):
            raise StructureError(f"a dictionary ending at byte {position} has a key not a name")
        if key in result:
            # readers disagree on which of the two counts: refuse instead of choosing
            raise StructureError(f"a dictionary ending at byte {position} has {key} twice")
        result[key] = items[index + 1]
    return result


def parse_object(data: bytes, position: int) -> tuple[PdfValue, int]:
    """The direct object starting at (or after white space at) ``position``, and its end."""
    stack: list[_Container] = []
    while True:
        position = skip_whitespace(data, position)
        if position >= len(data):
            raise StructureError("the file ends inside an object")
        byte = data[position : position + 1]
        value: PdfValue
        if byte == b"[" or data[position : position + 2] == b"<<":
            if len(stack) >= MAX_DEPTH:
                raise StructureError(f"objects nested deeper than {MAX_DEPTH} levels")
            opener = b"[" if byte == b"[" else b"<<"
            stack.append(_Container(opener))
            position += len(opener)
            continue
        if byte == b"]" or data[position : position + 2] == b">>":
            closer = b"]" if byte == b"]" else b">>"
            if not stack or stack[-1].start != (b"[" if closer == b"]" else b"<<"):
                raise StructureError(f"an unexpected {closer.decode()!r} at byte {position}")
            container = stack.pop()
            position += len(closer)
            value = (
                container.items if closer == b"]" else _close_dictionary(container.items, position)
            )
        elif byte == b"(":
            value, position = _literal_string(data, position)
        elif byte == b"<":
            value, position = _hex_string(data, position)
        elif byte == b"/":
            value, position = _name(data, position)
        else:
            value, position = _keyword_or_number(data, position, stack)
        if not stack:
            return value, position
        stack[-1].items.append(value)


def _keyword_or_number(data: bytes, position: int, stack: list[_Container]) -> tuple[PdfValue, int]:
    match = _REGULAR.match(data, position)
    assert match is not None
    token = match.group()
    end = match.end()
    if token == b"true":
        return True, end
    if token == b"false":
        return False, end
    if token == b"null":
        return None, end
    if token == b"R":
        # ``n g R`` arrives as two integers then R: fold them into one reference
        items = stack[-1].items if stack else []
        if len(items) < 2 or not all(type(item) is int for item in items[-2:]):
            raise StructureError(f"a stray R at byte {position}")
        generation = items.pop()
        number = items.pop()
        assert isinstance(number, int) and isinstance(generation, int)
        return Ref(number, generation), end
    if _NUMBER.fullmatch(token):
        if len(token) > _LONGEST_NUMBER:
            raise StructureError(f"a number of {len(token)} characters at byte {position}")
        if b"." in token:
            try:
                return Decimal(token.decode()), end
            except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
                raise StructureError(f"a malformed number at byte {position}") from None
        return int(token), end
    shown = token[:20] or data[position : position + 1]
    raise StructureError(f"unexpected {shown!r} at byte {position}")


def parse_indirect_object(data: bytes, position: int, *, limit: int) -> tuple[IndirectObject, int]:
    """The indirect object ``n g obj ... endobj`` at ``position`` (not past ``limit``).

    A stream's ``/Length`` must be a direct integer that ends exactly at ``endstream``.
    """
    start = skip_whitespace(data, position)
    number = _integer(data, start)
    generation = _integer(data, skip_whitespace(data, number[1])) if number else None
    if number is None or generation is None:
        raise StructureError(f"expected an object at byte {start}")
    after = _expect(data, generation[1], b"obj")
    value, position = parse_object(data, after)
    if type(value) is int:  # the whole value may be a reference: ``n g obj m 0 R endobj``
        value, position = _reference_after(data, value, position)
    following = skip_whitespace(data, position)
    if data[following : following + 6] == b"stream":
        if not isinstance(value, dict):
            raise StructureError(f"object {number[0]} has a stream without a dictionary")
        value, position = _stream_body(data, following + 6, value, number[0], limit)
    end = _expect(data, position, b"endobj")
    if end > limit:
        raise StructureError(f"object {number[0]} runs past its revision")
    return IndirectObject(number[0], generation[0], start, value), end


def _reference_after(data: bytes, number: int, position: int) -> tuple[PdfValue, int]:
    """``number`` alone, or the reference ``number g R`` when that is what follows it."""
    generation = _integer(data, skip_whitespace(data, position))
    if generation is not None:
        keyword = skip_whitespace(data, generation[1])
        if data[keyword : keyword + 1] == b"R" and (
            keyword + 1 >= len(data) or data[keyword + 1] in _separators()
        ):
            return Ref(number, generation[0]), keyword + 1
    return number, position


def _stream_body(
    data: bytes, position: int, dictionary: dict[Name, PdfValue], number: int, limit: int
) -> tuple[Stream, int]:
    if data[position : position + 2] == b"\r\n":
        position += 2
    elif data[position : position + 1] == b"\n":
        position += 1
    else:
        raise StructureError(f"object {number}'s stream keyword is not followed by a line end")
    length = dictionary.get(Name("/Length"))
    if type(length) is not int or length < 0 or position + length > limit:
        raise StructureError(f"object {number}'s stream has no usable direct /Length")
    raw = data[position : position + length]
    return Stream(dictionary, raw), _expect(data, position + length, b"endstream")


def decode_stream(stream: Stream) -> bytes:
    """A stream's data, decoded: no filter or ``/FlateDecode`` (with PNG predictors) only."""
    filters = stream.dictionary.get(Name("/Filter"))
    params = stream.dictionary.get(Name("/DecodeParms"))
    if filters is None:
        return stream.raw
    if isinstance(filters, list) and len(filters) == 1:
        filters = filters[0]
        params = params[0] if isinstance(params, list) and len(params) == 1 else params
    if filters != "/FlateDecode":
        raise StructureError(f"a stream uses the filter {filters!r}, which an update never needs")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(stream.raw, _MAX_DECODED)
    except zlib.error as error:
        raise StructureError(f"a stream does not decompress: {error}") from None
    if inflater.unconsumed_tail:
        raise StructureError("a stream decompresses to more than an update ever holds")
    if isinstance(params, dict):
        return _unpredict(data, params)
    if params is not None:
        raise StructureError("a stream has malformed /DecodeParms")
    return data


def _unpredict(data: bytes, params: dict[Name, PdfValue]) -> bytes:
    predictor = params.get(Name("/Predictor"), 1)
    if predictor == 1:
        return data
    columns = params.get(Name("/Columns"), 1)
    if not isinstance(predictor, int) or not 10 <= predictor <= 15:
        raise StructureError(f"unsupported stream predictor {predictor!r}")
    if type(columns) is not int or columns < 1 or len(data) % (columns + 1):
        raise StructureError("a predicted stream's rows do not match its /Columns")
    out = bytearray()
    previous = bytearray(columns)
    for start in range(0, len(data), columns + 1):
        kind, row = data[start], bytearray(data[start + 1 : start + 1 + columns])
        if kind == 2:
            row = bytearray(
                (value + above) & 0xFF for value, above in zip(row, previous, strict=True)
            )
        elif kind != 0:
            raise StructureError(f"unsupported PNG row filter {kind}")
        out += row
        previous = row
    return bytes(out)


def parse_xref_table(
    data: bytes, position: int, *, limit: int
) -> tuple[list[XrefEntry], dict[Name, PdfValue], int]:
    """The classic table ``xref ... trailer <<...>>`` at ``position``: entries, trailer, end."""
    position = _expect(data, position, b"xref")
    entries: list[XrefEntry] = []
    while True:
        position = skip_whitespace(data, position)
        header = re.compile(rb"(\d{1,19}) (\d{1,19})\r?\n").match(data, position)
        if header is None:
            break
        first, count = int(header.group(1)), int(header.group(2))
        position = header.end()
        if position + 20 * count > limit:
            raise StructureError("a cross-reference table runs past its revision")
        for index in range(count):
            row = data[position : position + 20]
            match = re.fullmatch(rb"(\d{10}) (\d{5}) ([nf])(?: \r| \n|\r\n)", row)
            if match is None:
                raise StructureError(f"a malformed cross-reference entry at byte {position}")
            offset, generation = int(match.group(1)), int(match.group(2))
            in_use = match.group(3) == b"n"
            entries.append(XrefEntry(first + index, generation, offset if in_use else None))
            position += 20
    position = _expect(data, position, b"trailer")
    trailer, position = parse_object(data, position)
    if not isinstance(trailer, dict):
        raise StructureError("the trailer is not a dictionary")
    return entries, trailer, position


def parse_xref_stream(stream: Stream) -> list[XrefEntry]:
    """The entries of a cross-reference stream (``/Type /XRef``)."""
    dictionary = stream.dictionary
    widths = dictionary.get(Name("/W"))
    size = dictionary.get(Name("/Size"))
    index = dictionary.get(Name("/Index"), [0, size])
    if (
        not isinstance(widths, list)
        or len(widths) != 3
        or not all(type(width) is int and 0 <= width <= 8 for width in widths)
        or not isinstance(index, list)
        or len(index) % 2
        or not all(type(item) is int and item >= 0 for item in index)
    ):
        raise StructureError("a cross-reference stream has a malformed /W or /Index")
    row = sum(widths)  # type: ignore[arg-type]
    rows = decode_stream(stream)
    declared = sum(index[1::2])  # type: ignore[arg-type]
    if row == 0 or len(rows) != row * declared:
        raise StructureError("a cross-reference stream's data does not match its /Index and /W")
    entries: list[XrefEntry] = []
    position = 0
    for first, count in zip(index[0::2], index[1::2], strict=True):
        assert isinstance(first, int) and isinstance(count, int)
        for number in range(first, first + count):
            fields = []
            for width in widths:
                assert isinstance(width, int)
                fields.append(int.from_bytes(rows[position : position + width], "big"))
                position += width
            kind = fields[0] if widths[0] else 1
            if kind == 1:
                entries.append(XrefEntry(number, fields[2], fields[1]))
            elif kind == 0:
                entries.append(XrefEntry(number, fields[2], None))
            elif kind == 2:
                entries.append(XrefEntry(number, 0, fields[1], compressed=True))
            else:
                raise StructureError(f"a cross-reference stream entry of unknown type {kind}")
    return entries
