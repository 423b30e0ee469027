"""Batch input: JSON Lines, CSV, or a folder of JSON files, read as a stream of records.

Every reader yields :class:`Record` objects one at a time, so memory stays flat however long the
input is. A record that cannot be read or validated is still yielded, with its error, so that it
is reported by its place in the input and the rest of the batch goes on: a line or row that is
not UTF-8, a CSV row longer than :data:`MAX_CSV_ROW` characters, a file in a folder that is not
a regular file. Only a CSV header that does not name the request's columns stops the input as a
whole (:class:`InputInvalid`), when :func:`read_records` is called, before any record is read.

**CSV layout.** The first row names the columns. Columns are the request's fields with dotted
names for nested ones (``applicant.nib``, ``decision.outcome``, ``signatory.nip``,
``addressee.title`` ...), and ``item.<field>`` for goods items (``item.tariff_code``,
``item.quantity`` ...). A request with several items takes **several consecutive rows with the
same** ``request_id``: the request's own columns are read from its first row (they may be left
empty on the following rows, and must not contradict it), and each row adds one item. List
fields (``decision.reasons``, ``decision.conditions``, ``copies``) hold one entry per line of the
cell (a line break inside the cell, as spreadsheets write it). Empty cells are absent fields.
See ``examples/batch.csv``.

Example::

    for record in read_records(Path("decided-today.jsonl")):
        if record.error is None:
            issuer.issue(record.request)
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from pydantic import BaseModel

from docgen.errors import DocgenError, FieldProblem, RequestInvalid
from docgen.models import GoodsItem, LetterRequest

__all__ = ["MAX_CSV_ROW", "InputFormat", "InputInvalid", "Record", "count_records", "read_records"]

MAX_CSV_ROW = 131_072
"""The longest CSV row read, in characters (csv's own cell limit); a real one is a few
thousand. A longer row (a runaway cell, or a quote left open) is skipped as invalid."""

_LIST_FIELDS = {"decision.reasons", "decision.conditions", "copies"}
_ITEM_PREFIX = "item."
_READ_CHUNK = 65_536  # characters read at a time, so a row without line breaks cannot fill memory
# bytes that are not UTF-8 are decoded to these lone surrogates ("surrogateescape"), so that a
# bad line or row is reported by its place and the rest of the input is still read
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class InputFormat(StrEnum):
    """How a batch input is written."""

    JSONL = "jsonl"
    CSV = "csv"
    FOLDER = "folder"


class InputInvalid(DocgenError):
    """The batch input as a whole cannot be read; nothing has been read or issued.

    Raised for a CSV header that names unknown columns or lacks needed ones.
    """

    exit_code = 65  # EX_DATAERR, as for an invalid request


@dataclass(frozen=True, slots=True)
class Record:
    """One request of a batch, or the reason it could not be read."""

    position: str
    """Where it is in the input, in words: ``line 12``, ``rows 5-7``, ``file a.json``."""
    request: LetterRequest | None
    """The validated request; None when ``error`` is set."""
    error: RequestInvalid | None = None
    """Why the record is invalid."""
    request_id: str | None = None
    """The request id, when it could be read even though the record is invalid."""


def _guess_format(source: Path | None) -> InputFormat:
    if source is not None and source.is_dir():
        return InputFormat.FOLDER
    if source is not None and source.suffix.lower() == ".csv":
        return InputFormat.CSV
    return InputFormat.JSONL


def _printable(text: str) -> str:
    """Text that can be written out: an undecodable byte or lone surrogate becomes U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _not_utf8(text: str) -> str | None:
    """Why text read with ``surrogateescape`` is not UTF-8, or None when it is."""
    bad = _UNDECODABLE.search(text)
    if bad is None:
        return None
    byte = ord(bad.group()) - 0xDC00
    return f"is not UTF-8 text (byte 0x{byte:02x} at character {bad.start() + 1}); save it as UTF-8"


def _invalid(position: str, problems: list[FieldProblem], request_id: str | None) -> Record:
    return Record(position, None, RequestInvalid(problems, source=position), request_id)


def _record(position: str, data: Any) -> Record:
    request_id = data.get("request_id") if isinstance(data, dict) else None
    request_id = _printable(request_id) if isinstance(request_id, str) else None
    if not isinstance(data, dict):
        problem = FieldProblem("Request", "must be a JSON object with named fields")
        return _invalid(position, [problem], request_id)
    try:
        return Record(position, LetterRequest.from_mapping(data, source=position), None, request_id)
    except RequestInvalid as error:
        return Record(position, None, error, request_id)


def _json_lines(stream: TextIO) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        position = f"line {number}"
        undecodable = _not_utf8(line)
        try:
            data = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            broken = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deep"
            problem = FieldProblem(
                "Record", undecodable or f"is not a readable request: the JSON is broken ({broken})"
            )
            yield _invalid(position, [problem], None)
            continue
        if undecodable is not None:
            found = data.get("request_id") if isinstance(data, dict) else None
            request_id = _printable(found) if isinstance(found, str) else None
            yield _invalid(position, [FieldProblem("Record", undecodable)], request_id)
            continue
        yield _record(position, data)


def _read_regular_file(path: Path) -> bytes:
    """The bytes of a regular file; raises :class:`_NotRegular` for a FIFO, device or folder."""
    # without O_NONBLOCK, opening a FIFO waits for a writer, for ever
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        regular = stat.S_ISREG(os.fstat(descriptor).st_mode)
    except OSError:
        os.close(descriptor)
        raise
    if not regular:
        os.close(descriptor)
        raise _NotRegular
    with open(descriptor, "rb") as file:
        return file.read()


class _NotRegular(Exception):
    """A folder entry is not a regular file."""


def _folder(folder: Path) -> Iterator[Record]:
    for path in sorted(folder.glob("*.json")):
        position = f"file {path.name}"
        try:
            text = _read_regular_file(path).decode("utf-8-sig")
            data = json.loads(text)
        except _NotRegular:
            problem = FieldProblem("File", "is not a regular file; only regular files are read")
        except UnicodeDecodeError as error:
            problem = FieldProblem(
                "File",
                f"is not UTF-8 text (byte 0x{error.object[error.start]:02x}); save it as UTF-8",
            )
        except (OSError, json.JSONDecodeError, RecursionError) as error:
            problem = FieldProblem("File", f"cannot be read as JSON ({error})")
        else:
            yield _record(position, data)
            continue
        yield _invalid(position, [problem], None)


# ------------------------------------------------------------------ CSV


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[last] = value


def _cell(column: str, value: str) -> Any:
    if column in _LIST_FIELDS:
        return [line.strip() for line in value.splitlines() if line.strip()]
    return value


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _columns() -> tuple[set[str], list[str]]:
    """Every column a CSV may have, and those it must have, from the request model."""
    known: set[str] = set()
    needed: list[str] = []
    for name, info in LetterRequest.model_fields.items():
        if name == "items":
            known.update(_ITEM_PREFIX + item for item in GoodsItem.model_fields)
            continue
        model = _model_of(info.annotation)
        if model is None:
            known.add(name)
            if info.is_required():
                needed.append(name)
            continue
        for inner, inner_info in model.model_fields.items():
            known.add(f"{name}.{inner}")
            if info.is_required() and inner_info.is_required():
                needed.append(f"{name}.{inner}")
    return known, needed


_KNOWN_COLUMNS, _NEEDED_COLUMNS = _columns()
_NEEDED_ITEM_COLUMNS = [
    _ITEM_PREFIX + name for name, info in GoodsItem.model_fields.items() if info.is_required()
]


def _short(name: str) -> str:
    """A column name as an error quotes it: a data row taken for the header has long ones."""
    return name if len(name) <= 40 else name[:39] + "…"


def _listed(names: list[str], most: int = 4) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _check_header(columns: list[str], where: str) -> None:
    """Raise :class:`InputInvalid` naming every unknown, doubled or missing column."""
    named = [column for column in columns if column]
    problems = []
    if not set(named) & _KNOWN_COLUMNS:
        problems.append(
            "its first row names none of the request's columns (is the header row missing?)"
        )
    else:
        unknown = [column for column in named if column not in _KNOWN_COLUMNS]
        if unknown:
            hints = []
            for column in unknown:
                close = difflib.get_close_matches(
                    column.replace("_", ".").lower(), _KNOWN_COLUMNS, n=1, cutoff=0.8
                ) or difflib.get_close_matches(column, _KNOWN_COLUMNS, n=1, cutoff=0.8)
                hint = f" (did you mean {close[0]}?)" if close else ""
                hints.append(_short(column) + hint)
            problems.append(f"unknown columns: {_listed(hints)}")
        doubled = sorted({column for column in named if named.count(column) > 1})
        if doubled:
            problems.append(f"columns named twice: {_listed([_short(c) for c in doubled])}")
        needed = list(_NEEDED_COLUMNS)
        if any(column.startswith(_ITEM_PREFIX) for column in named):
            needed += _NEEDED_ITEM_COLUMNS
        missing = [column for column in needed if column not in named]
        if missing:
            problems.append(f"missing columns: {_listed(missing, most=6)}")
    if problems:
        raise InputInvalid(
            f"The CSV header of {where} does not match the request's columns: "
            + "; ".join(_printable(problem) for problem in problems)
            + ". The columns are the request's fields, dotted for nested ones "
            "(applicant.nib, item.tariff_code); see examples/batch.csv"
        )


class _Scan:
    """Where a CSV reader is within a row (the csv module's own rules, default dialect)."""

    START, FIELD, QUOTED, QUOTE = range(4)
    """At the start of a cell; in an unquoted cell; inside quotes; just after a quote inside
    quotes (the closing one, or the first of a doubled one)."""


def _scan(chunk: str, state: int) -> int:
    """The state after reading ``chunk`` from ``state``; only quotes and commas matter."""
    i, n = 0, len(chunk)
    while i < n:
        if state == _Scan.QUOTED:
            found = chunk.find('"', i)
            if found < 0:
                return _Scan.QUOTED
            state, i = _Scan.QUOTE, found + 1
        elif state == _Scan.QUOTE:
            if chunk[i] == '"':  # a doubled quote: still inside
                state, i = _Scan.QUOTED, i + 1
            else:  # closed; what follows up to the next comma is plain text
                state = _Scan.FIELD
        elif state == _Scan.START and chunk[i] == '"':
            state, i = _Scan.QUOTED, i + 1
        else:
            found = chunk.find(",", i)
            if found < 0:
                return _Scan.FIELD
            state, i = _Scan.START, found + 1
    return state


@dataclass
class _Row:
    """One CSV row: its cells (from its first :data:`MAX_CSV_ROW` characters if longer)."""

    number: int
    cells: list[str]
    problems: list[FieldProblem] = field(default_factory=list)


def _rows(stream: TextIO) -> Iterator[_Row]:
    """The rows of a CSV stream, numbered from 1, each read with bounded memory."""
    number, size, state = 0, 0, _Scan.START
    parts: list[str] = []
    after_cr = False
    while True:
        chunk = stream.readline(_READ_CHUNK)
        if after_cr and chunk == "\n" and not parts:
            after_cr = False  # a CR LF that the chunk size split: the row has ended already
            continue
        if chunk:
            # a whole row without quotes, a spreadsheet's usual row, needs no closer look
            whole = state == _Scan.START and chunk.endswith(("\n", "\r"))
            state = _Scan.FIELD if whole and '"' not in chunk else _scan(chunk, state)
            if size + len(chunk) <= MAX_CSV_ROW:
                parts.append(chunk)
            size += len(chunk)
            if not chunk.endswith(("\n", "\r")) or state in (_Scan.QUOTED, _Scan.QUOTE):
                continue  # the row goes on
        elif not parts and not size:
            return
        number += 1
        yield _parse(number, "".join(parts), size)
        if not chunk:
            return
        after_cr = chunk.endswith("\r")
        parts, size, state = [], 0, _Scan.START


def _parse(number: int, text: str, size: int) -> _Row:
    try:
        cells = next(csv.reader([text]), [])
    except csv.Error as error:
        return _Row(number, [], [FieldProblem(f"Row {number}", f"cannot be read as CSV ({error})")])
    row = _Row(number, cells)
    if size > MAX_CSV_ROW:
        # the cells kept are those of the row's beginning; the last of them may be cut short
        row.cells = cells[:-1]
        row.problems.append(
            FieldProblem(
                f"Row {number}",
                f"is longer than {MAX_CSV_ROW:,} characters (a cell that long, or a quote left "
                "open); it was not read",
            )
        )
    undecodable = _not_utf8(text)
    if undecodable:
        row.problems.append(FieldProblem(f"Row {number}", undecodable))
    return row


class _CsvGroup:
    """The rows of one request being collected."""

    def __init__(self, first_row: int, request_id: str):
        self.first_row = first_row
        self.last_row = first_row
        self.request_id = request_id
        self.fields: dict[str, str] = {}
        self.items: list[dict[str, str]] = []
        self.conflicts: list[FieldProblem] = []

    def add(self, row_number: int, row: dict[str, str], problems: Iterable[FieldProblem]) -> None:
        self.last_row = row_number
        self.conflicts.extend(problems)
        item = {}
        for column, value in row.items():
            if not value or not column:
                continue
            if column.startswith(_ITEM_PREFIX):
                item[column.removeprefix(_ITEM_PREFIX)] = value
            elif column not in self.fields:
                self.fields[column] = value
            elif self.fields[column] != value:
                self.conflicts.append(
                    FieldProblem(
                        f"Column {column} (row {row_number})",
                        f"differs from the request's first row ({self.fields[column]!r})",
                    )
                )
        if item:
            self.items.append(item)

    def record(self) -> Record:
        position = (
            f"row {self.first_row}"
            if self.first_row == self.last_row
            else f"rows {self.first_row}-{self.last_row}"
        )
        if self.conflicts:
            return _invalid(position, self.conflicts, self.request_id or None)
        data: dict[str, Any] = {}
        for column, value in self.fields.items():
            _set(data, column, _cell(column, value))
        if self.items:
            data["items"] = self.items
        return _record(position, data)


class _Csv:
    """A CSV input: its header read and checked on creation, its requests read on iteration."""

    def __init__(self, stream: TextIO, where: str):
        self._rows = _rows(stream)
        header = next(self._rows, None)
        self._columns: list[str] = []
        self._id_column = 0
        if header is None:
            return  # an empty input: no requests today
        if header.problems:
            raise InputInvalid(
                f"The CSV header of {where} cannot be read: "
                + "; ".join(problem.message for problem in header.problems)
            )
        self._columns = [column.strip() for column in header.cells]
        _check_header(self._columns, where)
        self._id_column = self._columns.index("request_id")

    def _groups(self) -> Iterator[_CsvGroup | Record]:
        """Each request's rows together (or a record already invalid), in input order."""
        group: _CsvGroup | None = None
        seen: set[str] = set()
        for row in self._rows:
            if not row.cells and not row.problems:
                continue  # a blank line
            # rows are numbered as a spreadsheet shows them: row 1 is the header
            number = row.number
            request_id = ""
            if self._id_column < len(row.cells):
                request_id = _printable(row.cells[self._id_column].strip())
            if row.problems and self._id_column >= len(row.cells):
                # a row too broken to tell whose it is: a record of its own
                yield _invalid(f"row {number}", row.problems, None)
                continue
            values = dict(zip(self._columns, row.cells, strict=False))
            if len(row.cells) > len(self._columns) and any(row.cells[len(self._columns) :]):
                row.problems.append(
                    FieldProblem(
                        f"Row {number}",
                        f"has {len(row.cells)} cells, more than the header's "
                        f"{len(self._columns)} columns",
                    )
                )
            if group is not None and request_id in ("", group.request_id):
                group.add(number, values, row.problems)
                continue
            if group is not None:
                yield group
            if request_id in seen:
                position = f"row {number}"
                problem = FieldProblem(
                    "request_id",
                    f"{request_id!r} appeared earlier in the file; a request's rows must be "
                    "together",
                )
                yield _invalid(position, [problem], request_id)
                group = None
                continue
            seen.add(request_id)
            group = _CsvGroup(number, request_id)
            group.add(number, values, row.problems)
        if group is not None:
            yield group

    def __iter__(self) -> Iterator[Record]:
        for group in self._groups():
            yield group.record() if isinstance(group, _CsvGroup) else group

    def count(self) -> int:
        """How many records iterating would yield (without validating any)."""
        return sum(1 for _ in self._groups())


def _text(binary: BinaryIO) -> TextIO:
    """The input as UTF-8 text, an opening byte-order mark dropped.

    Line ends are kept as they are (CSV cells may hold line breaks), and bytes that are not
    UTF-8 are kept, for the record that holds them to be reported.
    """
    return io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _records(stream: TextIO, fmt: InputFormat, where: str) -> Iterator[Record]:
    """The records of ``stream``; a CSV header is read and checked before this returns."""
    if fmt is InputFormat.CSV:
        return iter(_Csv(stream, where))
    return _json_lines(stream)


def _file_records(source: Path, fmt: InputFormat) -> Iterator[Record]:
    # opened on the first record, so that an input never read leaves no file open
    with _text(source.open("rb")) as stream:
        yield from _records(stream, fmt, str(source))


def read_records(source: Path | None, fmt: InputFormat | None = None) -> Iterator[Record]:
    """Stream the records of a batch input; ``None`` reads standard input (JSON Lines or CSV).

    A CSV header is read and checked at once: :class:`InputInvalid` is raised here, before any
    record, when it names unknown columns or lacks needed ones.
    """
    fmt = fmt or _guess_format(source)
    if fmt is InputFormat.FOLDER:
        assert source is not None
        return _folder(source)
    if source is None:
        return _records(_text(sys.stdin.buffer), fmt, "standard input")
    if fmt is InputFormat.CSV:
        with _text(source.open("rb")) as stream:
            _Csv(stream, str(source))  # the header, checked now
    return _file_records(source, fmt)


def count_records(source: Path | None, fmt: InputFormat | None = None) -> int | None:
    """How many records a file holds, by a quick scan.

    None for standard input, or when the file cannot be read as a batch input (reading it will
    say why).
    """
    if source is None:
        return None
    fmt = fmt or _guess_format(source)
    if fmt is InputFormat.FOLDER:
        return sum(1 for _ in source.glob("*.json"))
    try:
        with source.open("rb") as binary:
            if fmt is InputFormat.JSONL:
                return sum(1 for line in binary if line.strip())
            with _text(binary) as stream:
                return _Csv(stream, str(source)).count()
    except (OSError, InputInvalid):
        return None
