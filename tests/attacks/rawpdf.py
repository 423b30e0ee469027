"""Raw PDF bytes: incremental updates written by hand, for the updates no PDF library writes.

pyHanko's writer only writes well-formed updates. The attacks need malformed ones: an object
listed twice in one cross-reference section, objects no section lists, a ``/Prev`` that points
elsewhere, a hybrid ``/XRefStm``. :class:`Update` appends one update to a file object by object
and ends it with a cross-reference table or stream built from explicit :class:`Entry` rows, so
every byte of the update is the test's choice. The base file is never changed.

Example::

    update = Update(letter)
    forged = update.add(6, stream_body(b"BT /F1 12 Tf (FORGED) Tj ET"))
    update.list(Entry(6, forged))                    # first entry: what viewers show
    update.list(Entry(6, update.location(6)))        # second entry: what pyHanko reads
    forgery = update.table()
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = [
    "Entry",
    "Font",
    "Update",
    "literal",
    "read",
    "replace_text",
    "serialize",
    "stream_body",
]


def read(pdf: bytes) -> PdfFileReader:
    """pyHanko's lenient reader over ``pdf``."""
    return PdfFileReader(io.BytesIO(pdf), strict=False)


def serialize(obj: generic.PdfObject) -> bytes:
    """The bytes pyHanko writes for ``obj`` (streams keep their encoded data)."""
    out = io.BytesIO()
    obj.write_to_stream(out, None)
    return out.getvalue()


def literal(text: str | bytes) -> bytes:
    """A PDF literal string holding ``text``, escaped so that any reader reads it back exactly."""
    raw = text.encode("latin-1") if isinstance(text, str) else text
    escaped = raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + escaped.replace(b"\r", b"\\r") + b")"


def stream_body(data: bytes, dictionary: bytes = b"", *, compress: bool = True) -> bytes:
    """The body of a stream object (dictionary and data), Flate-compressed unless told not."""
    payload = zlib.compress(data) if compress else data
    flate = b" /Filter /FlateDecode" if compress else b""
    head = b"<< /Length %d%s %s >>" % (len(payload), flate, dictionary)
    return head + b"\nstream\n" + payload + b"\nendstream"


@dataclass(frozen=True)
class Entry:
    """One row of a cross-reference section."""

    number: int
    """The object number."""
    offset: int = 0
    """In use: the byte offset of ``number generation obj``; free: the next free number."""
    generation: int = 0
    """The generation (for a free entry: the generation a reuse will have)."""
    free: bool = False
    """A free entry (``f``, type 0)."""
    in_stream: int | None = None
    """Compressed (type 2, cross-reference streams only): the object stream's number."""
    index: int = 0
    """Compressed: the object's index in that object stream."""


def _runs(entries: Sequence[Entry]) -> list[list[Entry]]:
    """Entries grouped into subsections of consecutive numbers, in the order given.

    A number listed again, or out of order, starts a new subsection: that is how one section
    comes to list an object twice, or to have overlapping subsections.
    """
    runs: list[list[Entry]] = []
    for entry in entries:
        if runs and entry.number == runs[-1][-1].number + 1:
            runs[-1].append(entry)
        else:
            runs.append([entry])
    return runs


class Update:
    """One incremental update appended to ``base``, built object by object.

    The trailer copies ``/Root``, ``/Info`` and ``/ID`` from the base's last trailer and points
    ``/Prev`` at its last cross-reference section; change :attr:`prev` (None: no ``/Prev``),
    :attr:`root` or :attr:`trailer_extra` before finishing to forge those.
    """

    def __init__(self, base: bytes):
        """Start an update after the last byte of ``base``."""
        self.base = base
        self.reader = read(base)
        trailer = self.reader.trailer
        self.prev: int | None = self.reader.last_startxref
        self.size = int(trailer["/Size"])
        self.root = serialize(trailer.raw_get("/Root"))
        self.info = serialize(trailer.raw_get("/Info")) if "/Info" in trailer else b""
        self.file_id = serialize(trailer.raw_get("/ID")) if "/ID" in trailer else b""
        self.trailer_extra = b""
        self.body = bytearray(b"" if base.endswith((b"\n", b"\r")) else b"\n")
        self.entries: list[Entry] = []

    @property
    def offset(self) -> int:
        """Where the next byte of the update will sit in the finished file."""
        return len(self.base) + len(self.body)

    def new_number(self) -> int:
        """A fresh object number."""
        self.size += 1
        return self.size - 1

    def location(self, number: int, generation: int = 0) -> int:
        """The byte offset of an uncompressed object of the base file, as its xref says."""
        where = self.reader.xrefs[generic.Reference(number, generation)]
        if not isinstance(where, int):
            raise ValueError(f"object {number} is compressed in an object stream: {where}")
        return where

    def current(self, number: int, generation: int = 0) -> generic.PdfObject:
        """The object as the base file's last revision defines it (pyHanko's reading)."""
        found: generic.PdfObject = self.reader.get_object(generic.Reference(number, generation))
        return found

    def raw(self, data: bytes) -> int:
        """Append bytes as they are; their offset."""
        where = self.offset
        self.body += data
        return where

    def add(self, number: int, body: bytes, generation: int = 0, *, listed: bool = True) -> int:
        """Append ``number generation obj body endobj``; its offset. Listed in the xref unless
        ``listed`` is False (a hidden object)."""
        where = self.raw(b"%d %d obj\n%s\nendobj\n" % (number, generation, body))
        if listed:
            self.list(Entry(number, where, generation))
        return where

    def add_object(self, number: int, obj: generic.PdfObject, *, listed: bool = True) -> int:
        """Append a pyHanko object under ``number``; its offset."""
        return self.add(number, serialize(obj), listed=listed)

    def copy(self, number: int, *, listed: bool = True) -> int:
        """Append an exact copy of the base's object ``number`` (what pyHanko reads); its offset."""
        return self.add_object(number, self.current(number), listed=listed)

    def list(self, entry: Entry) -> None:
        """Add a row to the update's cross-reference section (in this order)."""
        self.entries.append(entry)

    def _trailer_keys(self, size: int) -> bytes:
        keys = b"/Size %d /Root %s" % (size, self.root)
        if self.info:
            keys += b" /Info " + self.info
        if self.file_id:
            keys += b" /ID " + self.file_id
        if self.prev is not None:
            keys += b" /Prev %d" % self.prev
        return keys + (b" " + self.trailer_extra if self.trailer_extra else b"")

    def _size(self, entries: Iterable[Entry]) -> int:
        return max([self.size, *(entry.number + 1 for entry in entries)])

    def table_section(self, entries: Sequence[Entry] | None = None) -> bytes:
        """A classic ``xref`` table of ``entries`` (default: every row listed so far)."""
        rows = self.entries if entries is None else entries
        lines = [b"xref\n"]
        for run in _runs(rows):
            lines.append(b"%d %d\n" % (run[0].number, len(run)))
            for entry in run:
                if entry.in_stream is not None:
                    raise ValueError("a cross-reference table cannot list a compressed object")
                kind = b"f" if entry.free else b"n"
                lines.append(b"%010d %05d %s\r\n" % (entry.offset, entry.generation, kind))
        return b"".join(lines)

    def table(self, *, trailer: bool = True, startxref: int | None = None) -> bytes:
        """The finished file, ending with a classic cross-reference table and trailer.

        ``trailer=False`` leaves the trailer dictionary out; ``startxref`` points the final
        ``startxref`` elsewhere than at this table.
        """
        where = self.raw(self.table_section())
        if trailer:
            self.raw(b"trailer\n<< %s >>\n" % self._trailer_keys(self._size(self.entries)))
        return self._finish(where if startxref is None else startxref)

    def stream_rows(self, entries: Sequence[Entry]) -> bytes:
        """The binary rows of a cross-reference stream with ``/W [1 4 2]``."""
        rows = bytearray()
        for entry in entries:
            if entry.free:
                rows += bytes([0]) + entry.offset.to_bytes(4, "big")
                rows += entry.generation.to_bytes(2, "big")
            elif entry.in_stream is not None:
                rows += bytes([2]) + entry.in_stream.to_bytes(4, "big")
                rows += entry.index.to_bytes(2, "big")
            else:
                rows += bytes([1]) + entry.offset.to_bytes(4, "big")
                rows += entry.generation.to_bytes(2, "big")
        return bytes(rows)

    def xref_stream(
        self, *, index: Sequence[int] | None = None, number: int | None = None, hidden: bool = False
    ) -> tuple[int, int]:
        """Append a cross-reference stream of the rows listed so far; its number and offset.

        ``index`` forges ``/Index`` (default: one pair per run of consecutive numbers). The
        stream lists itself last, unless ``hidden``.
        """
        number = self.new_number() if number is None else number
        where = self.offset
        rows = list(self.entries)
        if not hidden:
            rows.append(Entry(number, where))
        pairs = index
        if pairs is None:
            pairs = [value for run in _runs(rows) for value in (run[0].number, len(run))]
        keys = self._trailer_keys(self._size(rows))
        dictionary = b"/Type /XRef /W [1 4 2] /Index [%s] %s" % (
            b" ".join(b"%d" % value for value in pairs),
            keys,
        )
        self.add(number, stream_body(self.stream_rows(rows), dictionary), listed=False)
        return number, where

    def stream(self, *, index: Sequence[int] | None = None) -> bytes:
        """The finished file, ending with a cross-reference stream (see :meth:`xref_stream`)."""
        _, where = self.xref_stream(index=index)
        return self._finish(where)

    def _finish(self, startxref: int) -> bytes:
        self.raw(b"startxref\n%d\n%%%%EOF\n" % startxref)
        return self.base + bytes(self.body)


# --- text in content streams ----------------------------------------------------------------


@dataclass(frozen=True)
class Font:
    """A font's codes and what they mean, from its ``/ToUnicode`` map."""

    width: int
    """Bytes per code (1 for LibreOffice's simple fonts, 2 for WeasyPrint's Identity-H)."""
    text: Mapping[bytes, str]
    """Code to text."""

    @classmethod
    def from_cmap(cls, cmap: bytes) -> Font:
        """Parse the ``bfchar`` and ``bfrange`` entries of a ToUnicode CMap."""
        space = re.search(rb"begincodespacerange\s*<([0-9A-Fa-f]+)>", cmap)
        width = len(space.group(1)) // 2 if space else 2
        text: dict[bytes, str] = {}
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
            for code, value in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                text[bytes.fromhex(code.decode())] = bytes.fromhex(value.decode()).decode(
                    "utf-16-be"
                )
        for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
            ranges = re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block)
            for low, high, start in ranges:
                first = int(start, 16)
                for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                    text[code.to_bytes(width, "big")] = chr(first + offset)
        return cls(width, text)

    def decode(self, hexstring: bytes) -> str:
        """The text of a hex string's codes."""
        raw = bytes.fromhex(re.sub(rb"\s", b"", hexstring).decode())
        return "".join(
            self.text.get(raw[i : i + self.width], "\ufffd") for i in range(0, len(raw), self.width)
        )

    def encode(self, text: str) -> bytes:
        """A hex string (without brackets) that shows ``text``; KeyError for a missing glyph."""
        codes = {value: code for code, value in self.text.items()}
        return b"".join(codes[char].hex().upper().encode() for char in text)


_TEXT_OPERATORS = re.compile(
    rb"/([^\s/\[\]<>()%]+)\s+[-+\d.]+\s+Tf"  # a font selection
    rb"|\[([^\]]*)\]\s*TJ"  # an array of strings and kerning
    rb"|<([0-9A-Fa-f\s]*)>\s*Tj"  # one string
)


def replace_text(content: bytes, fonts: Mapping[str, Font], old: str, new: str) -> bytes:
    """``content`` with the first text run showing ``old`` rewritten to show ``new`` instead.

    The run is re-encoded with the same font's own codes, so ``new`` may only use characters
    that font has. ValueError when no run shows ``old``.
    """
    font: Font | None = None
    for match in _TEXT_OPERATORS.finditer(content):
        if match.group(1) is not None:
            font = fonts.get(match.group(1).decode("latin-1"))
            continue
        if font is None:
            continue
        strings = (
            re.findall(rb"<([0-9A-Fa-f\s]*)>", match.group(2))
            if match.group(2) is not None
            else [match.group(3)]
        )
        shown = "".join(font.decode(string) for string in strings)
        if old in shown:
            forged = b"[<%s>] TJ" % font.encode(shown.replace(old, new, 1))
            return content[: match.start()] + forged + content[match.end() :]
    raise ValueError(f"no text run shows {old!r}")
