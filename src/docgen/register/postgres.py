"""The register in PostgreSQL: one register shared by the docgen processes of several machines.

Numbers are taken inside the transaction that records the reservation, by updating the
series' counter row, which holds that row's lock until the transaction ends: the processes of
every machine take a series' numbers one at a time (other series are not held up), and a
rolled-back transaction gives its number back untaken, so numbers are neither duplicated nor
skipped. For a new request that transaction is a single statement (see ``_TAKE_NUMBER`` in
:mod:`docgen.register.core`), so the lock is taken and released by the server alone and is
never held while the server waits for a client; marking a letter issued or void is one
statement too. Times come from the server's clock, so that the machines' clocks cannot disagree
about a reservation's lease.

Connections run in autocommit; a transaction of several statements runs in pipeline mode, so
its ``BEGIN`` travels with its first statement and its deferred statements with its ``COMMIT``.

The password never appears in the address: libpq reads it from ``PGPASSWORD`` or the password
file ``PGPASSFILE`` (``~/.pgpass``), or docgen from ``password_file``. Messages show the address
without any password.

Errors that running again may cure are retryable: a lock held too long, a serialization failure
or deadlock (:class:`RegisterBusy`); a server that cannot be reached or ended the connection
(:class:`RegisterUnavailable`). A connection that failed is discarded; the next operation opens
a new one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import dict_row

from docgen.errors import RegisterBusy, RegisterError, RegisterUnavailable
from docgen.register.backend import Duplicate, RegisterBackend, Row, Session

__all__ = ["PostgresBackend", "scrub"]

_SCHEMA_LOCK = 0x646F6367  # any constant: the advisory lock that serializes schema changes
_SECRETS = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)
_USERINFO = re.compile(r"(postgres(?:ql)?://[^:/@\s]*):[^@\s]*@", re.IGNORECASE)
_NOT_TRANSIENT = ("does not exist", "authentication failed", "no password supplied", "denied")


def scrub(text: str) -> str:
    """``text`` with any password in a libpq address or connection string replaced by ``***``."""
    return _SECRETS.sub(r"\1***", _USERINFO.sub(r"\1:***@", text))


def url_has_password(url: str) -> bool:
    """Whether a libpq address carries a password (in its user part or its parameters)."""
    return urlsplit(url).password is not None or bool(_SECRETS.search(url))


class PostgresBackend(RegisterBackend):
    """A register in the PostgreSQL database at ``url`` (``postgresql://user@host:port/db``)."""

    dialect = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        password_file: Path | None = None,
    ):
        """Connect lazily to ``url``; ``timeout`` bounds a wait for another transaction's lock."""
        super().__init__(read_only=read_only)
        self.url = url
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.password_file = password_file
        # the pipeline of each connection in a write transaction, by the connection's id
        self._pipelines: dict[int, psycopg.Pipeline] = {}

    @property
    def describe(self) -> str:
        """The address, without any password."""
        return scrub(self.url)

    def _password(self) -> str | None:
        if self.password_file is None:
            return None  # libpq's own: PGPASSWORD, PGPASSFILE or ~/.pgpass
        try:
            lines = self.password_file.read_text("utf-8").splitlines()
        except OSError as error:
            raise RegisterError(
                f"Cannot read the register's password file {self.password_file}: "
                f"{error.strerror}; check letter_register.password_file"
            ) from None
        return lines[0] if lines else ""

    def _connect(self) -> psycopg.Connection[Row]:
        options = f"-c lock_timeout={max(1, int(self.timeout * 1000))}"
        if self.read_only:
            options += " -c default_transaction_read_only=on"
        extra: dict[str, Any] = {}
        password = self._password()
        if password is not None:
            extra["password"] = password
        try:
            connection: psycopg.Connection[Row] = psycopg.connect(
                self.url,
                autocommit=True,
                row_factory=dict_row,
                connect_timeout=max(1, math.ceil(self.connect_timeout)),
                application_name="docgen",
                options=options,
                **extra,
            )
        except psycopg.Error as error:
            text = scrub(str(error).strip())
            if any(words in text for words in _NOT_TRANSIENT):
                raise RegisterError(
                    f"The register at {self.describe} could not be opened: {text}; check "
                    "letter_register.url and the password (PGPASSWORD, PGPASSFILE or "
                    "letter_register.password_file)"
                ) from None
            raise RegisterUnavailable(
                f"The register at {self.describe} could not be reached: {text}; try again shortly"
            ) from None
        return connection

    def _execute(
        self, connection: psycopg.Connection[Row], sql: str, parameters: Sequence[object]
    ) -> tuple[list[Row], int]:
        cursor = self._send(connection, sql, parameters)
        pipeline = self._pipelines.get(id(connection))
        if pipeline is not None:
            pipeline.sync()  # this statement's result is needed now
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.rowcount

    def _set_aside_inherited(self) -> None:
        super()._set_aside_inherited()
        self._pipelines = {}

    def _send(
        self, connection: psycopg.Connection[Row], sql: str, parameters: Sequence[object]
    ) -> psycopg.Cursor[Row]:
        if parameters:
            return connection.execute(sql.replace("?", "%s"), list(parameters))
        return connection.execute(sql)  # no placeholders: '%' and '$$' stay literal

    def _defer(
        self, connection: psycopg.Connection[Row], sql: str, parameters: Sequence[object]
    ) -> None:
        self._send(connection, sql, parameters)

    @contextmanager
    def _transaction(self, connection: psycopg.Connection[Row]) -> Iterator[None]:
        # pipeline mode: BEGIN goes with the first statement, and deferred statements with the
        # COMMIT, each in one round trip
        with connection.pipeline() as pipeline, connection.transaction():
            self._pipelines[id(connection)] = pipeline
            try:
                yield
            finally:
                self._pipelines.pop(id(connection), None)

    def _failure(self, error: Exception, doing: str) -> RegisterError | None:
        if not isinstance(error, psycopg.Error):
            return None
        text = scrub(str(error).strip())
        where = f"The register at {self.describe} {doing}"
        if isinstance(error, pg_errors.UniqueViolation):
            return Duplicate(f"{where}: {text}")
        if isinstance(
            error,
            pg_errors.LockNotAvailable
            | pg_errors.SerializationFailure
            | pg_errors.DeadlockDetected
            | pg_errors.QueryCanceled,
        ):
            return RegisterBusy(
                f"{where}: another process held its lock too long ({text}); try again shortly"
            )
        if isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return RegisterUnavailable(
                f"{where}: the database server could not be reached or ended the connection "
                f"({text}); try again shortly"
            )
        return RegisterError(f"{where}: {text}")

    def _usable(self, connection: psycopg.Connection[Row]) -> bool:
        return not connection.closed and not connection.broken

    def _close_connection(self, connection: psycopg.Connection[Row]) -> None:
        connection.close()

    def _now(self, session: Session) -> datetime:
        row = session.one("SELECT clock_timestamp() AS now")
        assert row is not None
        now: datetime = row["now"]
        return now

    def tables(self, session: Session) -> set[str]:
        """The tables of the connection's current schema."""
        rows = session.rows(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
        )
        return {r["name"] for r in rows}

    def columns(self, session: Session, table: str) -> set[str]:
        """A table's columns."""
        rows = session.rows(
            "SELECT column_name AS name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {r["name"] for r in rows}

    def lock_schema(self, session: Session) -> None:
        """Serialize schema changes of every process, on every node."""
        session.run("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
