"""The strict reader of raw PDF syntax: what it reads, and the ambiguities it refuses."""

from __future__ import annotations

import zlib
from decimal import Decimal

import pytest

from docgen.verify.pdfsyntax import (
    MAX_DEPTH,
    Name,
    Ref,
    Stream,
    StructureError,
    XrefEntry,
    parse_indirect_object,
    parse_object,
    parse_xref_stream,
    parse_xref_table,
)


def test_values_are_read_as_plain_python() -> None:
    text = (
        b"<< /Type /Catalog /Kids [1 0 R 2 0 R] /N -3 /R .5 /S (a\\(b\\)\\101) /H <4142 43>"
        b" /T true /Z null /E /A#42 >> rest"
    )
    value, end = parse_object(text, 0)
    assert value == {
        "/Type": "/Catalog",
        "/Kids": [Ref(1, 0), Ref(2, 0)],
        "/N": -3,
        "/R": Decimal("0.5"),
        "/S": b"a(b)A",
        "/H": b"ABC",
        "/T": True,
        "/Z": None,
        "/E": "/AB",
    }
    assert isinstance(value, dict) and all(isinstance(key, Name) for key in value)
    assert text[end:] == b" rest"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"<< /Title (A) /Title (B) >>", "twice"),
        (b"<< /Title >>", "key without a value"),
        (b"<< (key) 1 >>", "not a name"),
        (b"[1 R]", "stray R"),
        (b"(never closed", "not closed"),
        (b"<41 zz>", "hexadecimal"),
        (b"[1 2 >>", "unexpected"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), "nested deeper"),
        (b"<< /A 1", "ends inside"),
        (b"[" + b"7" * 5000 + b"]", "a number of 5000 characters"),
    ],
)
def test_ambiguous_or_broken_syntax_is_refused(text: bytes, problem: str) -> None:
    with pytest.raises(StructureError, match=problem):
        parse_object(text, 0)


def test_deep_nesting_is_refused_without_recursion() -> None:
    with pytest.raises(StructureError, match="nested deeper"):
        parse_object(b"[" * 100_000 + b"]" * 100_000, 0)


def test_an_indirect_object_and_its_stream() -> None:
    data = b"7 0 obj\n<< /Length 5 >>\nstream\nhello\nendstream\nendobj\n"
    found, end = parse_indirect_object(data, 0, limit=len(data))
    assert (found.number, found.generation, found.offset) == (7, 0, 0)
    assert found.value == Stream({Name("/Length"): 5}, b"hello")
    assert data[end:] == b"\n"


@pytest.mark.parametrize(
    "data",
    [
        b"7 0 obj\n<< /Length 4 >>\nstream\nhello\nendstream\nendobj",  # /Length too short
        b"7 0 obj\n<< /Length 8 0 R >>\nstream\nhello\nendstream\nendobj",  # indirect /Length
        b"7 0 obj\n<< /Length 500 >>\nstream\nhello\nendstream\nendobj",  # past the end
        b"7 0 obj\n<< >>\n",  # no endobj
        b"7" * 5000 + b" 0 obj\n1\nendobj",  # an object number Python will not read
    ],
)
def test_a_stream_must_end_where_its_direct_length_says(data: bytes) -> None:
    with pytest.raises(StructureError):
        parse_indirect_object(data, 0, limit=len(data))


def test_a_classic_table_and_its_trailer() -> None:
    data = (
        b"xref\n0 1\n0000000000 65535 f \n7 2\n0000000100 00000 n \n0000000200 00000 n \n"
        b"trailer\n<< /Size 9 /Prev 42 >>\n"
    )
    entries, trailer, _ = parse_xref_table(data, 0, limit=len(data))
    assert entries == [
        XrefEntry(0, 65535, None),
        XrefEntry(7, 0, 100),
        XrefEntry(8, 0, 200),
    ]
    assert trailer == {"/Size": 9, "/Prev": 42}


def test_a_cross_reference_stream_with_a_png_predictor() -> None:
    rows = [bytes([1, 0, 100, 0]), bytes([1, 0, 200, 0]), bytes([2, 0, 5, 3])]
    encoded, previous = b"", bytes(4)
    for row in rows:  # PNG "up" filter: each byte minus the byte above it
        encoded += b"\x02" + bytes((a - b) & 0xFF for a, b in zip(row, previous, strict=True))
        previous = row
    stream = Stream(
        {
            Name("/Type"): Name("/XRef"),
            Name("/W"): [1, 2, 1],
            Name("/Index"): [10, 3],
            Name("/Size"): 13,
            Name("/Filter"): Name("/FlateDecode"),
            Name("/DecodeParms"): {Name("/Predictor"): 12, Name("/Columns"): 4},
        },
        zlib.compress(encoded),
    )
    assert parse_xref_stream(stream) == [
        XrefEntry(10, 0, 100),
        XrefEntry(11, 0, 200),
        XrefEntry(12, 0, 5, compressed=True),
    ]


def test_a_cross_reference_stream_whose_rows_do_not_match_is_refused() -> None:
    stream = Stream({Name("/W"): [1, 2, 1], Name("/Index"): [0, 3], Name("/Size"): 3}, b"\x01" * 5)
    with pytest.raises(StructureError, match="does not match"):
        parse_xref_stream(stream)


def test_a_decompression_bomb_is_refused() -> None:
    bomb = zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)
    stream = Stream(
        {Name("/W"): [1, 2, 1], Name("/Size"): 1, Name("/Filter"): Name("/FlateDecode")}, bomb
    )
    with pytest.raises(StructureError, match="more than"):
        parse_xref_stream(stream)
