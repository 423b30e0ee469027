"""Where the register's rows live: the interface that SQLite and PostgreSQL implement.

A :class:`RegisterBackend` knows how to open a connection, run SQL on it, hold a write
transaction, and turn its database's errors into docgen's. The register's rules (numbering,
idempotency, reservations, the audit trail) are written once, in portable SQL, in
:class:`docgen.register.Register`, so that both databases give the same guarantees.

**Connections** are kept in a small per-process pool: an operation borrows one, runs its
statements (one transaction at most), and gives it back, so a thread never shares a connection
while it is in use and threads that come and go do not leave connections behind. The pool
belongs to the process that opened it: a forked child never touches its parent's connections
(it opens its own; the inherited ones are set aside, never used nor closed, because closing a
PostgreSQL connection tells the server to end the session the parent is still using). This
small pool rather than psycopg_pool: that one runs worker threads, which a forked child does not
have, and SQLite needs the same per-process handling anyway. It keeps as many connections as
the process had operations at once (a thread each, at most).
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, ClassVar

from docgen.errors import RegisterError

__all__ = ["Duplicate", "RegisterBackend", "Session"]

Row = Mapping[str, Any]

_INHERITED: list[object] = []
"""Connections a forked child inherited: kept referenced so they are never finalized there."""
_BACKENDS: weakref.WeakSet[RegisterBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_BACKENDS):
        backend._set_aside_inherited()


os.register_at_fork(after_in_child=_after_fork_in_child)


class Duplicate(RegisterError):
    """A unique constraint refused a row: another transaction inserted it first."""


class Session:
    """One borrowed connection: SQL with ``?`` placeholders, rows as mappings."""

    def __init__(self, backend: RegisterBackend, connection: Any):
        self._backend = backend
        self._connection = connection

    def run(self, sql: str, parameters: Sequence[object] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        return self._backend._execute(self._connection, sql, parameters)[1]

    def rows(self, sql: str, parameters: Sequence[object] = ()) -> list[Row]:
        """Run a query; its rows."""
        return self._backend._execute(self._connection, sql, parameters)[0]

    def defer(self, sql: str, parameters: Sequence[object] = ()) -> None:
        """Run a statement whose result nobody waits for: its errors may surface only at commit.

        PostgreSQL sends it with the commit, in one round trip, which shortens how long a
        series' counter stays locked.
        """
        self._backend._defer(self._connection, sql, parameters)

    def one(self, sql: str, parameters: Sequence[object] = ()) -> Row | None:
        """Run a query; its first row, if any."""
        found = self.rows(sql, parameters)
        return found[0] if found else None

    def now(self) -> datetime:
        """The time of the register's clock (PostgreSQL's for every node alike)."""
        return self._backend._now(self)

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._backend.dialect


class RegisterBackend(ABC):
    """A database holding a register: connections, transactions and error mapping."""

    dialect: ClassVar[str]
    """``sqlite`` or ``postgresql``: which SQL the schema migrations use."""

    def __init__(self, *, read_only: bool):
        """A backend; ``read_only`` refuses every write at the database."""
        self.read_only = read_only
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._open: list[Any] = []
        _BACKENDS.add(self)

    @property
    @abstractmethod
    def describe(self) -> str:
        """Where the register is, for messages (a path, or an address without password)."""

    @abstractmethod
    def _connect(self) -> Any:
        """A new connection; raises :class:`RegisterError`."""

    @abstractmethod
    def _execute(
        self, connection: Any, sql: str, parameters: Sequence[object]
    ) -> tuple[list[Row], int]:
        """Run one statement: its rows (none for a statement without) and its row count."""

    def _defer(self, connection: Any, sql: str, parameters: Sequence[object]) -> None:
        """Run a statement whose result is not needed (see :meth:`Session.defer`)."""
        self._execute(connection, sql, parameters)

    @abstractmethod
    def _transaction(self, connection: Any) -> AbstractContextManager[None]:
        """A write transaction on ``connection``: committed at the end, rolled back on error."""

    @abstractmethod
    def _failure(self, error: Exception, doing: str) -> RegisterError | None:
        """The database's error as docgen's; None when it is not a database error."""

    @abstractmethod
    def _usable(self, connection: Any) -> bool:
        """Whether a connection may go back to the pool after an operation (not broken)."""

    @abstractmethod
    def _close_connection(self, connection: Any) -> None:
        """Close one connection of this process."""

    @abstractmethod
    def _now(self, session: Session) -> datetime:
        """The register's current time, aware, in UTC."""

    @abstractmethod
    def tables(self, session: Session) -> set[str]:
        """The tables of the register's database (its schema, for PostgreSQL)."""

    @abstractmethod
    def columns(self, session: Session, table: str) -> set[str]:
        """The columns of a table."""

    def lock_schema(self, session: Session) -> None:  # noqa: B027 (most databases need none)
        """Keep other processes out of a schema change until this transaction ends."""

    def ready(self, checked: bool) -> None:  # noqa: B027 (most databases need nothing)
        """Called once the database is known to hold a register (SQLite then tunes the file)."""

    # ---------------------------------------------------------------- the per-process pool

    def _set_aside_inherited(self) -> None:
        """In a forked child: forget the parent's connections without closing them."""
        _INHERITED.extend(self._open)
        self._open, self._idle = [], []
        self._lock = threading.Lock()  # another thread may have held it at the fork
        self._pid = os.getpid()

    def _borrow(self) -> Any:
        if self._pid != os.getpid():
            self._set_aside_inherited()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        connection = self._connect()
        with self._lock:
            self._open.append(connection)
        return connection

    def _give_back(self, connection: Any, usable: bool) -> None:
        if usable and self._pid == os.getpid():
            with self._lock:
                self._idle.append(connection)
            return
        with self._lock:
            if connection in self._open:
                self._open.remove(connection)
        if self._pid == os.getpid():
            # a broken connection may fail to close; it is gone either way
            with contextlib.suppress(Exception):
                self._close_connection(connection)

    @contextmanager
    def session(self, *, write: bool = False, doing: str = "failed") -> Iterator[Session]:
        """A connection for one operation; with ``write``, inside one write transaction.

        Database errors leave as :class:`RegisterError` (:class:`RegisterBusy` or
        :class:`~docgen.errors.RegisterUnavailable` when running again may succeed).
        """
        connection = self._borrow()
        usable = True
        try:
            if write:
                with self._transaction(connection):
                    yield Session(self, connection)
            else:
                yield Session(self, connection)
        except Exception as error:
            usable = self._usable(connection)
            mapped = self._failure(error, doing)
            if mapped is None:
                raise
            raise mapped from None
        except BaseException:
            usable = False  # interrupted mid-statement: the connection's state is unknown
            raise
        finally:
            self._give_back(connection, usable)

    def close(self) -> None:
        """Close the connections this object opened in this process."""
        if self._pid != os.getpid():
            self._set_aside_inherited()
            return
        with self._lock:
            connections, self._open, self._idle = self._open, [], []
        for connection in connections:
            with contextlib.suppress(Exception):  # best effort: nothing is left to use it
                self._close_connection(connection)
