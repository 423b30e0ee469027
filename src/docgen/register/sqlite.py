"""The register in a SQLite file: the embedded default, for one machine.

Writes take SQLite's write lock at their first statement (``BEGIN IMMEDIATE``), so the
processes of one machine take numbers one at a time; the file runs in WAL mode with full syncs.
A write waits ``timeout`` seconds for another process's lock, then fails with
:class:`RegisterBusy`. The file is never created except on purpose (``create``): SQLite opens it
by URI with ``mode=rw`` (``ro`` when read-only), so a missing file is an error, not a new
register that would number from 1 again.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from docgen.errors import RegisterBusy, RegisterError
from docgen.register.backend import Duplicate, RegisterBackend, Row, Session

__all__ = ["INIT_HINT", "SqliteBackend"]

INIT_HINT = (
    "if it was moved or deleted, restore it or point letter_register.path at it (a new register "
    "would number from 1 again); only a new installation creates one, with `docgen register init`"
)


def _value(value: object) -> object:
    # times and dates as ISO text, which sorts and compares as the values do
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# what an operator does about the failures that need one, by SQLite's primary result code
_DAMAGED = "; the register is damaged: restore it from a backup before issuing again"
_ADVICE = {
    sqlite3.SQLITE_READONLY: " (the register is read-only; docgen needs to write it)",
    sqlite3.SQLITE_CORRUPT: _DAMAGED,
    sqlite3.SQLITE_FULL: " (the disk holding the register is full: free space, then run again)",
    sqlite3.SQLITE_NOTADB: "; the file is damaged or not a docgen register: check "
    "letter_register.path, or restore the register from a backup",
}


def _folder_advice(folder: Path) -> str:
    """Why SQLite could not open or write beside the register, when the folder tells.

    SQLite reports a read-only or full disk as a bare "unable to open database file" or
    "disk I/O error" when it cannot make its journal files next to the register.
    """
    try:
        stats = os.statvfs(folder)
    except OSError:
        return ""
    if stats.f_flag & os.ST_RDONLY or not os.access(folder, os.W_OK):
        return " (the register's folder is read-only; docgen needs to write it)"
    if stats.f_bavail == 0:
        return " (the disk holding the register is full: free space, then run again)"
    return ""


class SqliteBackend(RegisterBackend):
    """A register in the SQLite file at ``path``."""

    dialect = "sqlite"

    def __init__(
        self, path: Path, *, read_only: bool = False, create: bool = False, timeout: float = 60.0
    ):
        """Open the file at ``path``; only ``create`` makes a missing one (and its folder)."""
        if read_only and create:
            raise ValueError("a register opened read-only cannot be created")
        super().__init__(read_only=read_only)
        self.path = path
        self.create = create
        self.timeout = timeout
        self._checked = False
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise RegisterError(
                    f"Cannot create the register's folder {path.parent}: {error.strerror}"
                ) from None
        elif not path.is_file():
            raise RegisterError(f"The register {path} does not exist; {INIT_HINT}")

    @property
    def describe(self) -> str:
        """The file's path."""
        return str(self.path)

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = None
        try:
            # a URI, so that SQLite itself never creates a missing file unless asked to
            # (mode=rw), even if the file disappears after this object was made; mode=ro also
            # refuses every write
            mode = "ro" if self.read_only else "rwc" if self.create else "rw"
            connection = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode={mode}",
                uri=True,
                timeout=self.timeout,
                isolation_level=None,
                # the pool hands a connection to one thread at a time, never to two at once
                check_same_thread=False,
            )
            connection.row_factory = sqlite3.Row
            connection.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            if self._checked:
                self._tune(connection)
        except sqlite3.Error as error:
            if connection is not None:
                connection.close()
            if isinstance(error, sqlite3.OperationalError) and not self.path.exists():
                raise RegisterError(
                    f"The register {self.path} does not exist; {INIT_HINT}"
                ) from None
            failure = self._failure(error, "could not be opened")
            assert failure is not None
            raise failure from None
        return connection

    def _tune(self, connection: sqlite3.Connection) -> None:
        """WAL mode and full syncs, on a file known to be a register (it changes the file)."""
        if not self.read_only:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")

    def ready(self, checked: bool) -> None:
        """Tune the connections open now and later, once the file is known to be a register."""
        if checked and not self._checked:
            self._checked = True
            with self._lock:
                idle = list(self._idle)
            for connection in idle:
                self._tune(connection)

    def _execute(
        self, connection: sqlite3.Connection, sql: str, parameters: Sequence[object]
    ) -> tuple[list[Row], int]:
        cursor = connection.execute(sql, [_value(p) for p in parameters])
        rows: list[Row] = list(cursor.fetchall()) if cursor.description else []
        return rows, cursor.rowcount

    @contextmanager
    def _transaction(self, connection: sqlite3.Connection) -> Iterator[None]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _failure(self, error: Exception, doing: str) -> RegisterError | None:
        """:class:`RegisterBusy` when it was a lock held too long."""
        if not isinstance(error, sqlite3.Error):
            return None
        if isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error):
            return Duplicate(f"The register {self.path} {doing}: {error}")
        # SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes in the higher bits
        code = getattr(error, "sqlite_errorcode", None)
        busy = code & 0xFF in (5, 6) if isinstance(code, int) else "locked" in str(error)
        if busy:
            return RegisterBusy(
                f"The register {self.path} {doing}: another process held its lock too long "
                f"({error}); try again shortly"
            )
        primary = code & 0xFF if isinstance(code, int) else -1
        advice = _ADVICE.get(primary, "")
        if primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
            advice = _folder_advice(self.path.parent) or advice
        return RegisterError(f"The register {self.path} {doing}: {error}{advice}")

    def _usable(self, connection: sqlite3.Connection) -> bool:
        return not connection.in_transaction

    def _close_connection(self, connection: sqlite3.Connection) -> None:
        connection.close()

    def _now(self, session: Session) -> datetime:
        return datetime.now(UTC)

    def tables(self, session: Session) -> set[str]:
        """The file's tables."""
        return {
            r["name"] for r in session.rows("SELECT name FROM sqlite_master WHERE type='table'")
        }

    def columns(self, session: Session, table: str) -> set[str]:
        """A table's columns."""
        return {r["name"] for r in session.rows(f"PRAGMA table_info({table})")}
