"""Moving a register between databases: export to a file, import into an empty register.

``docgen register export FILE`` writes every numbering counter, letter (with its status, hashes,
owner and times) and audit entry to a JSON Lines file; ``docgen register import FILE`` writes
them into an empty register of either kind, in one transaction. Both print the counts and a
checksum of the register's content (computed from the database, not from the file), so equal
checksums show that the register arrived whole. The file carries the checksum too: a damaged or
edited file is refused before anything is written.

The checksum is the SHA-256 of the content in canonical form: rows in a fixed order (series by
name, letters by series and number, audit entries by position), values as JSON (times in UTC
ISO 8601), so a SQLite register and its PostgreSQL copy give the same one. The schema's own
history (``schema_version``) is not content and is not moved.

The file holds applicants' names and NIBs: it is created readable by its owner only.

Example::

    summary = export_register(open_register(sqlite_settings), Path("register.jsonl"))
    assert import_register(open_register(pg_settings), Path("register.jsonl")) == summary
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from docgen.errors import OutputError, RegisterError
from docgen.register.backend import Session
from docgen.register.core import Register
from docgen.register.migrations import SCHEMA_VERSION
from docgen.register.records import day, when

__all__ = ["TransferSummary", "checksum", "export_register", "import_register"]

FORMAT = "docgen-register-export"
_COLUMNS: dict[str, tuple[str, ...]] = {
    "series": ("series", "last_seq"),
    "letters": (
        "register_id", "request_id", "request_hash", "series", "seq", "letter_number",
        "service", "directorate", "applicant_nib", "applicant", "decision", "issued_on",
        "status", "reason", "signer", "pdf_sha256", "signed_sha256", "pdf_path",
        "reserved_at", "owner", "issued_at", "changed_at", "facts",
    ),
    "letter_events": (
        "id", "register_id", "letter_number", "event", "at", "node", "process", "reason",
    ),
}  # fmt: skip
_ORDER = {"series": "series", "letters": "series, seq", "letter_events": "id"}
_TIMES = {"reserved_at", "issued_at", "changed_at", "at"}
_INTEGERS = {"last_seq", "seq", "id"}

Content = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class TransferSummary:
    """What a register holds, as export and import report it."""

    counts: dict[str, int]
    """Rows per table: ``series``, ``letters``, ``letter_events``."""
    statuses: dict[str, int]
    """Letters per status."""
    checksum: str
    """SHA-256 of the content in canonical form."""

    def describe(self) -> str:
        """One line for people."""
        statuses = ", ".join(f"{s} {n}" for s, n in sorted(self.statuses.items()))
        return (
            f"{self.counts['series']} series, {self.counts['letters']} letters"
            f"{f' ({statuses})' if statuses else ''}, "
            f"{self.counts['letter_events']} audit entries; checksum {self.checksum}"
        )


def _canonical(column: str, value: object) -> object:
    if value is None:
        return None
    if column in _TIMES:
        return when(value).isoformat()
    if column == "issued_on":
        return day(value).isoformat()
    if column in _INTEGERS:
        return int(value)  # type: ignore[call-overload]
    return str(value)


def _stored(column: str, value: object) -> object:
    if value is None:
        return None
    if column in _TIMES:
        return datetime.fromisoformat(str(value))
    if column == "issued_on":
        return date.fromisoformat(str(value))
    return value


def _read(db: Session) -> Content:
    return {
        table: [
            {column: _canonical(column, row[column]) for column in columns}
            for row in db.rows(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {_ORDER[table]}")
        ]
        for table, columns in _COLUMNS.items()
    }


def _summary(content: Content) -> TransferSummary:
    digest = hashlib.sha256()
    for table in _COLUMNS:
        for row in content[table]:
            line = json.dumps(
                [table, row], sort_keys=True, ensure_ascii=False, separators=(",", ":")
            )
            digest.update(line.encode() + b"\n")
    return TransferSummary(
        counts={table: len(rows) for table, rows in content.items()},
        statuses=dict(Counter(str(row["status"]) for row in content["letters"])),
        checksum=digest.hexdigest(),
    )


def _snapshot(db: Session) -> None:
    """Read every table as of one moment (SQLite's write lock already gives that)."""
    if db.dialect == "postgresql":
        db.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def checksum(register: Register) -> TransferSummary:
    """The register's counts and checksum, read as of one moment."""
    with register.backend.session(write=not register.read_only) as db:
        if not register.read_only:
            _snapshot(db)
        return _summary(_read(db))


def export_register(register: Register, path: Path) -> TransferSummary:
    """Write the register's whole content to a new file at ``path``; its summary.

    An existing file is never replaced (:class:`OutputError`).
    """
    with register.backend.session(write=True, doing="could not be exported") as db:
        _snapshot(db)
        content = _read(db)
    summary = _summary(content)
    header = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "counts": summary.counts,
        "checksum": summary.checksum,
    }
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise OutputError(f"{path} already exists; export into a new file") from None
    except OSError as error:
        raise OutputError(f"Cannot create {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(header) + "\n")
            for table, rows in content.items():
                for row in rows:
                    handle.write(json.dumps({"table": table, "row": row}, ensure_ascii=False))
                    handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as error:
        with contextlib.suppress(OSError):
            path.unlink()
        raise OutputError(f"Cannot write {path}: {error.strerror}") from None
    return summary


def _load(path: Path) -> tuple[Mapping[str, Any], Content]:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as error:
        raise RegisterError(f"Cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise RegisterError(f"{path} is not a register export (not UTF-8 text)") from None
    try:
        header = json.loads(lines[0]) if lines else {}
        entries = [json.loads(line) for line in lines[1:] if line.strip()]
    except json.JSONDecodeError as error:
        raise RegisterError(f"{path} is damaged: line {error.lineno} is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RegisterError(f"{path} is not a register export (made by docgen register export)")
    content: Content = {table: [] for table in _COLUMNS}
    for number, entry in enumerate(entries, start=2):
        table = entry.get("table") if isinstance(entry, dict) else None
        row = entry.get("row") if isinstance(entry, dict) else None
        if table not in _COLUMNS or not isinstance(row, dict) or set(row) != set(_COLUMNS[table]):
            raise RegisterError(f"{path} is damaged: line {number} is not a register row")
        content[table].append(row)
    return header, content


def import_register(register: Register, path: Path) -> TransferSummary:
    """Write an export into ``register``, which must be empty; its summary, read back.

    Everything is written in one transaction, and the checksum read back from the register
    must equal the file's, or nothing is kept.
    """
    header, content = _load(path)
    expected = _summary(content)
    if header.get("checksum") != expected.checksum or header.get("counts") != expected.counts:
        raise RegisterError(
            f"{path} is damaged or was edited: its rows do not match the checksum it was "
            "exported with; nothing was imported"
        )
    where = register.describe
    with register.backend.session(write=True, doing="could not be imported into") as db:
        for table in _COLUMNS:
            if db.one(f"SELECT 1 AS found FROM {table} LIMIT 1") is not None:
                raise RegisterError(
                    f"The register {where} is not empty ({table} has rows); import only into a "
                    "new register (docgen register init)"
                )
        for table, columns in _COLUMNS.items():
            insert = (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            for row in content[table]:
                db.run(insert, [_stored(column, row[column]) for column in columns])
        if db.dialect == "postgresql" and content["letter_events"]:
            # the next audit entry continues after the imported ones
            db.run(
                "SELECT setval(pg_get_serial_sequence('letter_events', 'id'), max(id)) "
                "FROM letter_events"
            )
        _snapshot_after = _summary(_read(db))
        if _snapshot_after != expected:
            raise RegisterError(
                f"The register {where} read back differently from {path} "
                f"({_snapshot_after.checksum} against {expected.checksum}); nothing was imported"
            )
    return _snapshot_after
