"""Batch input: JSON Lines, CSV, or a folder of JSON files, read as a stream of records.

Every reader yields :class:`Record` objects one at a time, so memory stays flat however long the
input is. A record that cannot be read or validated is still yielded, with its error, so that it
is reported by its place in the input and the rest of the batch goes on.

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
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

from docgen.errors import FieldProblem, RequestInvalid
from docgen.models import LetterRequest

__all__ = ["InputFormat", "Record", "count_records", "read_records"]

_LIST_FIELDS = {"decision.reasons", "decision.conditions", "copies"}
_ITEM_PREFIX = "item."


class InputFormat(StrEnum):
    """How a batch input is written."""

    JSONL = "jsonl"
    CSV = "csv"
    FOLDER = "folder"


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


def _record(position: str, data: Any) -> Record:
    request_id = data.get("request_id") if isinstance(data, dict) else None
    request_id = request_id if isinstance(request_id, str) else None
    if not isinstance(data, dict):
        problem = FieldProblem("Request", "must be a JSON object with named fields")
        return Record(position, None, RequestInvalid([problem], source=position), request_id)
    try:
        return Record(position, LetterRequest.from_mapping(data, source=position), None, request_id)
    except RequestInvalid as error:
        return Record(position, None, error, request_id)


def _json_lines(stream: TextIO) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        position = f"line {number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            problem = FieldProblem(
                "Record", f"is not a readable request: the JSON is broken ({error.msg})"
            )
            yield Record(position, None, RequestInvalid([problem], source=position))
            continue
        yield _record(position, data)


def _folder(folder: Path) -> Iterator[Record]:
    for path in sorted(folder.glob("*.json")):
        position = f"file {path.name}"
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            problem = FieldProblem("File", f"cannot be read as JSON ({error})")
            yield Record(position, None, RequestInvalid([problem], source=position))
            continue
        yield _record(position, data)


def _set(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for parent in parents:
        target = target.setdefault(parent, {})
    target[last] = value


def _cell(column: str, value: str) -> Any:
    if column in _LIST_FIELDS:
        return [line.strip() for line in value.splitlines() if line.strip()]
    return value


class _CsvGroup:
    """The rows of one request being collected."""

    def __init__(self, first_row: int, request_id: str):
        self.first_row = first_row
        self.last_row = first_row
        self.request_id = request_id
        self.fields: dict[str, str] = {}
        self.items: list[dict[str, str]] = []
        self.conflicts: list[FieldProblem] = []

    def add(self, row_number: int, row: dict[str, str]) -> None:
        self.last_row = row_number
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
            return Record(
                position, None, RequestInvalid(self.conflicts, source=position), self.request_id
            )
        data: dict[str, Any] = {}
        for column, value in self.fields.items():
            _set(data, column, _cell(column, value))
        if self.items:
            data["items"] = self.items
        return _record(position, data)


def _csv(stream: TextIO) -> Iterator[Record]:
    reader = csv.DictReader(stream)
    group: _CsvGroup | None = None
    seen: set[str] = set()
    # row 1 is the header, so data rows are numbered as a spreadsheet shows them
    for row_number, row in enumerate(reader, start=2):
        request_id = (row.get("request_id") or "").strip()
        if group is not None and request_id in ("", group.request_id):
            group.add(row_number, row)
            continue
        if group is not None:
            yield group.record()
        if request_id in seen:
            position = f"row {row_number}"
            problem = FieldProblem(
                "request_id",
                f"{request_id!r} appeared earlier in the file; a request's rows must be together",
            )
            yield Record(position, None, RequestInvalid([problem], source=position), request_id)
            group = None
            continue
        seen.add(request_id)
        group = _CsvGroup(row_number, request_id)
        group.add(row_number, row)
    if group is not None:
        yield group.record()


def read_records(source: Path | None, fmt: InputFormat | None = None) -> Iterator[Record]:
    """Stream the records of a batch input; ``None`` reads standard input (JSON Lines or CSV)."""
    fmt = fmt or _guess_format(source)
    if fmt is InputFormat.FOLDER:
        assert source is not None
        yield from _folder(source)
        return
    if source is None:
        stream: TextIO = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
        yield from _csv(stream) if fmt is InputFormat.CSV else _json_lines(stream)
        return
    with source.open(encoding="utf-8-sig", newline="") as stream:
        yield from _csv(stream) if fmt is InputFormat.CSV else _json_lines(stream)


def count_records(source: Path | None, fmt: InputFormat | None = None) -> int | None:
    """How many records a file holds, by a quick scan (None for standard input)."""
    if source is None:
        return None
    fmt = fmt or _guess_format(source)
    if fmt is InputFormat.FOLDER:
        return sum(1 for _ in source.glob("*.json"))
    with source.open(encoding="utf-8-sig", newline="") as stream:
        if fmt is InputFormat.JSONL:
            return sum(1 for line in stream if line.strip())
        count, previous = 0, None
        for row in csv.DictReader(stream):
            request_id = (row.get("request_id") or "").strip()
            if request_id and request_id != previous:
                count += 1
                previous = request_id
        return count
