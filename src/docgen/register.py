"""The letter register: numbers, idempotency and status, in SQLite.

Every letter gets its number here, once. The rules:

- **Numbers** come per series (by default a Directorate General's year, ``ILMATE/2026``),
  sequential, never reused and never duplicated, however many processes issue at once: the
  counter is read and advanced inside a transaction that takes SQLite's write lock first
  (``BEGIN IMMEDIATE``), and the database runs in WAL mode.
- **Idempotency**: a request id is issued at most once. Issuing it again returns the letter
  already issued (same number, same file); the same id with different content is refused.
- **Reservations**: a number is reserved before the letter is rendered and signed, then the
  record is marked issued once the signed file is in place. If rendering or signing fails, the
  record is marked **void** with the reason and no file is left; the number stays consumed (it
  is never given to another letter) and the void record accounts for the gap. A reservation
  whose process died is taken over by the next attempt at the same request, keeping its
  number: at once when that process ran on this machine (it is known to be gone), otherwise
  once the lease has run out.
- **Revocation** marks an issued letter revoked, with a reason and time; verification then fails.
- **Created only on purpose**: :meth:`Register.create` (``docgen register init``) makes a new
  register; opening one that does not exist is a :class:`RegisterError`, never a fresh empty
  register. A fresh register would number from 1 again, and its letters would collide with the
  letters the lost one issued.
- **Locks**: a write waits for another process's write lock for ``timeout`` seconds, then
  fails with :class:`RegisterBusy` (retryable: the lock is temporary).

Example::

    Register.create(Path("register.sqlite3")).close()      # once, when setting up
    register = Register(Path("register.sqlite3"))
    reservation = register.reserve(request, service, request_hash, issued_on=date.today())
    ...
    register.mark_issued(reservation.register_id, sha256=..., path=..., signer=...)
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from docgen.catalogue import Service
from docgen.errors import (
    LetterInProgress,
    RegisterBusy,
    RegisterError,
    RequestConflict,
    UnknownLetter,
)
from docgen.files import process_start
from docgen.models import LetterRequest

__all__ = ["LetterRecord", "LetterStatus", "Register"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    series   TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS letters (
    register_id   TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL,
    request_hash  TEXT NOT NULL,
    series        TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    letter_number TEXT NOT NULL UNIQUE,
    service       TEXT NOT NULL,
    directorate   TEXT NOT NULL,
    applicant_nib TEXT NOT NULL,
    applicant     TEXT NOT NULL,
    decision      TEXT NOT NULL,
    issued_on     TEXT NOT NULL,
    status        TEXT NOT NULL,
    reason        TEXT,
    signer        TEXT,
    pdf_sha256    TEXT,
    signed_sha256 TEXT,
    pdf_path      TEXT,
    reserved_at   TEXT NOT NULL,
    owner         TEXT,
    issued_at     TEXT,
    changed_at    TEXT NOT NULL,
    UNIQUE (series, seq)
);
-- one live letter per request id; void attempts may pile up beside it
CREATE UNIQUE INDEX IF NOT EXISTS letters_live_request
    ON letters (request_id) WHERE status != 'void';
CREATE INDEX IF NOT EXISTS letters_sha256 ON letters (pdf_sha256);
"""


class LetterStatus(StrEnum):
    """Where a letter stands in the register."""

    RESERVED = "reserved"
    ISSUED = "issued"
    VOID = "void"
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class LetterRecord:
    """One row of the register."""

    register_id: str
    """Opaque id of the letter; the verification address ends with it."""
    request_id: str
    """The request's idempotency key."""
    request_hash: str
    """SHA-256 of the request's canonical JSON."""
    series: str
    """Numbering series, e.g. ``ILMATE/2026``."""
    seq: int
    """Sequence number within the series."""
    letter_number: str
    """The full letter number printed in the letter."""
    service: str
    """Service code."""
    directorate: str
    """Issuing Directorate General."""
    applicant_nib: str
    """Applicant's NIB."""
    applicant: str
    """Applicant's name."""
    decision: str
    """``approved`` or ``rejected``."""
    issued_on: date
    """The letter date."""
    status: LetterStatus
    """Reserved, issued, void or revoked."""
    reason: str | None
    """Why it is void or revoked."""
    signer: str | None
    """Subject of the signing certificate."""
    pdf_sha256: str | None
    """SHA-256 of the signed PDF as issued."""
    signed_sha256: str | None
    """SHA-256 of the signed revision (stays the same when validation data is added later)."""
    pdf_path: str | None
    """Where the signed PDF was written, once issued."""
    reserved_at: datetime
    """When the number was reserved."""
    issued_at: datetime | None
    """When the letter was recorded as issued."""
    changed_at: datetime
    """When the status last changed."""


def _now() -> datetime:
    return datetime.now(UTC)


_OWNER = f"{socket.gethostname()}:{os.getpid()}:{process_start(os.getpid())}"


def _owner_alive(owner: str | None) -> bool:
    """Whether the process that made a reservation may still be working on it.

    Only a process on this machine can be known to be gone; for any other, assume alive and
    let the lease decide.
    """
    if not owner:
        return True
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    return process_start(int(pid)) == started


def _record(row: sqlite3.Row) -> LetterRecord:
    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return LetterRecord(
        register_id=row["register_id"],
        request_id=row["request_id"],
        request_hash=row["request_hash"],
        series=row["series"],
        seq=row["seq"],
        letter_number=row["letter_number"],
        service=row["service"],
        directorate=row["directorate"],
        applicant_nib=row["applicant_nib"],
        applicant=row["applicant"],
        decision=row["decision"],
        issued_on=date.fromisoformat(row["issued_on"]),
        status=LetterStatus(row["status"]),
        reason=row["reason"],
        signer=row["signer"],
        pdf_sha256=row["pdf_sha256"],
        signed_sha256=row["signed_sha256"],
        pdf_path=row["pdf_path"],
        reserved_at=datetime.fromisoformat(row["reserved_at"]),
        issued_at=when(row["issued_at"]),
        changed_at=datetime.fromisoformat(row["changed_at"]),
    )


def _failure(path: Path, error: sqlite3.Error, doing: str = "failed") -> RegisterError:
    """A SQLite error as docgen's: :class:`RegisterBusy` when it was a lock held too long."""
    # SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes in the higher bits
    code = getattr(error, "sqlite_errorcode", None)
    busy = code & 0xFF in (5, 6) if isinstance(code, int) else "locked" in str(error)
    if busy:
        return RegisterBusy(
            f"The register {path} {doing}: another process held its lock too long ({error}); "
            "try again shortly"
        )
    return RegisterError(f"The register {path} {doing}: {error}")


_INIT_HINT = (
    "if it was moved or deleted, restore it or point letter_register.path at it (a new register "
    "would number from 1 again); only a new installation creates one, with `docgen register init`"
)


class Register:
    """The SQLite letter register; one connection per thread, safe across processes."""

    def __init__(
        self,
        path: Path,
        *,
        lease: timedelta = timedelta(minutes=10),
        read_only: bool = False,
        create: bool = False,
        timeout: float = 60.0,
    ):
        """Open the existing register at ``path``; a missing one is a :class:`RegisterError`.

        ``create`` makes the register when it does not exist yet (``docgen register init``;
        :meth:`create` says the same). Without it, a register is never created: a missing file
        or folder, or a file that is not a docgen register, is a :class:`RegisterError`, so that
        a moved or deleted register cannot silently restart the numbering.
        ``lease`` is how long a reservation belongs to the process that made it; after that a
        new attempt at the same request takes it over (its process is presumed dead).
        ``read_only`` opens an existing register for reading only, as verification does: it is
        never created, its schema never touched, and a missing or foreign file is a
        :class:`RegisterError`. ``timeout`` is how many seconds an operation waits for another
        process's lock before failing with :class:`RegisterBusy`.
        """
        if read_only and create:
            raise ValueError("a register opened read-only cannot be created")
        self.path = path
        self.lease = lease
        self.read_only = read_only
        self.timeout = timeout
        self._create = create
        self._checked = False  # whether the file is known to be a register (see _set_up)
        self._local = threading.local()
        if read_only:
            if not path.is_file():
                raise RegisterError(f"the register {path} does not exist")
            try:
                self._connection().execute("SELECT register_id FROM letters LIMIT 1").fetchall()
            except sqlite3.Error as error:
                raise RegisterError(f"the register {path} cannot be read: {error}") from None
            return
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise RegisterError(
                    f"Cannot create the register's folder {path.parent}: {error.strerror}"
                ) from None
        elif not path.is_file():
            raise RegisterError(f"The register {path} does not exist; {_INIT_HINT}")
        try:
            self._set_up()
        except sqlite3.Error as error:
            self.close()
            raise _failure(path, error, "could not be set up") from None
        except RegisterError:
            self.close()
            raise

    @classmethod
    def create(
        cls, path: Path, *, lease: timedelta = timedelta(minutes=10), timeout: float = 60.0
    ) -> Register:
        """Make a new register at ``path`` (or open the one there): set-up, never implicit."""
        return cls(path, lease=lease, timeout=timeout, create=True)

    def _set_up(self) -> None:
        """Make the tables (only when creating) and bring an older register's schema up to date."""
        db = self._connection()
        tables = {
            row["name"] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "letters" not in tables:
            if tables or not self._create:
                # another application's database, or an empty file: never made into a register
                raise RegisterError(
                    f"{self.path} is not a docgen register; check letter_register.path in the "
                    "settings"
                )
            # executescript manages its own transaction; every statement is idempotent
            db.executescript(_SCHEMA)
        self._tune(db)
        self._checked = True
        columns = {row["name"] for row in db.execute("PRAGMA table_info(letters)")}
        missing = [c for c in ("owner", "signed_sha256") if c not in columns]
        indexes = {
            row["name"] for row in db.execute("SELECT name FROM sqlite_master WHERE type='index'")
        }
        if missing or "letters_signed_sha256" not in indexes:
            # a register made by an earlier version; written only then, so that opening a
            # current register never waits for another process's write lock
            with self._transaction() as update:
                for column in missing:
                    update.execute(f"ALTER TABLE letters ADD COLUMN {column} TEXT")
                update.execute(
                    "CREATE INDEX IF NOT EXISTS letters_signed_sha256 ON letters (signed_sha256)"
                )

    def _tune(self, connection: sqlite3.Connection) -> None:
        """WAL mode and full syncs, on a file known to be a register (it changes the file)."""
        if not self.read_only:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            try:
                # a URI, so that SQLite itself never creates a missing file unless asked to
                # (mode=rw), even if the file disappears after this object was made;
                # mode=ro also refuses every write
                mode = "ro" if self.read_only else "rwc" if self._create else "rw"
                connection = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode={mode}",
                    uri=True,
                    timeout=self.timeout,
                    isolation_level=None,
                    check_same_thread=True,
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
                        f"The register {self.path} does not exist; {_INIT_HINT}"
                    ) from None
                raise _failure(self.path, error, "could not be opened") from None
            self._local.connection = connection
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds SQLite's write lock from its first statement."""
        db = self._connection()
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as error:
            raise _failure(self.path, error) from None

    def close(self) -> None:
        """Close this thread's connection."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None

    def reserve(
        self, request: LetterRequest, service: Service, request_hash: str, *, issued_on: date
    ) -> LetterRecord:
        """Reserve a number for a request, or return the live record it already has.

        Returns an ``issued`` or ``revoked`` record as it is when the request was issued before
        (the caller returns that letter), and a ``reserved`` record otherwise (the caller renders,
        signs, then calls :meth:`mark_issued` or :meth:`mark_void`). Raises
        :class:`RequestConflict` for a known request id with different content, and
        :class:`LetterInProgress` when another live process holds the reservation.
        """
        now = _now()
        with self._transaction() as db:
            row = db.execute(
                "SELECT * FROM letters WHERE request_id = ? AND status != 'void'",
                (request.request_id,),
            ).fetchone()
            if row is not None:
                existing = _record(row)
                if existing.request_hash != request_hash:
                    raise RequestConflict(
                        f"Request {request.request_id} was already used for letter "
                        f"{existing.letter_number} with different content; a changed decision "
                        "needs a new request id"
                    )
                if existing.status is not LetterStatus.RESERVED:
                    return existing
                owner = row["owner"]
                if _owner_alive(owner) and now - existing.changed_at < self.lease:
                    raise LetterInProgress(
                        f"Request {request.request_id} is being issued by another process "
                        f"(number {existing.letter_number}); try again shortly"
                    )
                db.execute(
                    "UPDATE letters SET changed_at = ?, owner = ? WHERE register_id = ?",
                    (now.isoformat(), _OWNER, existing.register_id),
                )
                return existing
            series = service.series(issued_on)
            db.execute("INSERT OR IGNORE INTO series (series, last_seq) VALUES (?, 0)", (series,))
            (seq,) = db.execute(
                "UPDATE series SET last_seq = last_seq + 1 WHERE series = ? RETURNING last_seq",
                (series,),
            ).fetchone()
            register_id = uuid.uuid4().hex
            db.execute(
                "INSERT INTO letters (register_id, request_id, request_hash, series, seq, "
                "letter_number, service, directorate, applicant_nib, applicant, decision, "
                "issued_on, status, reserved_at, changed_at, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?)",
                (
                    register_id,
                    request.request_id,
                    request_hash,
                    series,
                    seq,
                    service.letter_number(seq, issued_on),
                    service.code,
                    service.directorate_general,
                    request.applicant.nib,
                    request.applicant.name,
                    request.decision.outcome.value,
                    issued_on.isoformat(),
                    now.isoformat(),
                    now.isoformat(),
                    _OWNER,
                ),
            )
            row = db.execute("SELECT * FROM letters WHERE register_id = ?", (register_id,))
            return _record(row.fetchone())

    def mark_issued(
        self,
        register_id: str,
        *,
        sha256: str,
        path: str,
        signer: str,
        signed_sha256: str | None = None,
    ) -> LetterRecord:
        """Record that the reserved letter was signed and written."""
        now = _now().isoformat()
        return self._update(
            register_id,
            "UPDATE letters SET status = 'issued', pdf_sha256 = ?, signed_sha256 = ?, "
            "pdf_path = ?, signer = ?, issued_at = ?, changed_at = ? "
            "WHERE register_id = ? AND status = 'reserved'",
            (sha256, signed_sha256 or sha256, path, signer, now, now, register_id),
            expected="reserved",
        )

    def mark_void(self, register_id: str, reason: str) -> LetterRecord:
        """Record that a reserved letter failed; its number stays consumed."""
        return self._update(
            register_id,
            "UPDATE letters SET status = 'void', reason = ?, changed_at = ? "
            "WHERE register_id = ? AND status = 'reserved'",
            (reason, _now().isoformat(), register_id),
            expected="reserved",
        )

    def revoke(self, letter_number: str, reason: str) -> LetterRecord:
        """Revoke an issued letter by its number."""
        record = self.by_number(letter_number)
        if record is None:
            raise UnknownLetter(f"No letter numbered {letter_number} in the register")
        if record.status is LetterStatus.REVOKED:
            raise UnknownLetter(f"Letter {letter_number} was already revoked: {record.reason}")
        if record.status is not LetterStatus.ISSUED:
            raise UnknownLetter(
                f"Letter {letter_number} was never issued ({record.status.value}); "
                "only an issued letter can be revoked"
            )
        return self._update(
            record.register_id,
            "UPDATE letters SET status = 'revoked', reason = ?, changed_at = ? "
            "WHERE register_id = ? AND status = 'issued'",
            (reason, _now().isoformat(), record.register_id),
            expected="issued",
        )

    def _update(
        self, register_id: str, sql: str, parameters: tuple[str, ...], *, expected: str
    ) -> LetterRecord:
        with self._transaction() as db:
            if db.execute(sql, parameters).rowcount != 1:
                raise RegisterError(f"Register record {register_id} is no longer {expected}")
            row = db.execute("SELECT * FROM letters WHERE register_id = ?", (register_id,))
            return _record(row.fetchone())

    def _one(self, where: str, value: str) -> LetterRecord | None:
        try:
            row = self._connection().execute(f"SELECT * FROM letters WHERE {where}", (value,))
            found = row.fetchone()
        except sqlite3.Error as error:
            raise _failure(self.path, error) from None
        return _record(found) if found is not None else None

    def get(self, register_id: str) -> LetterRecord | None:
        """The record with this register id."""
        return self._one("register_id = ?", register_id)

    def by_number(self, letter_number: str) -> LetterRecord | None:
        """The record with this letter number."""
        return self._one("letter_number = ?", letter_number)

    def by_sha256(self, sha256: str) -> LetterRecord | None:
        """The issued or revoked letter whose signed PDF, as issued, has this hash."""
        return self._one("pdf_sha256 = ?", sha256)

    def by_signed_sha256(self, sha256: str) -> LetterRecord | None:
        """The letter whose signed revision has this hash (see ``signed_revision_sha256``)."""
        return self._one("signed_sha256 = ?", sha256)

    def by_request(self, request_id: str) -> LetterRecord | None:
        """The live (not void) record of a request id."""
        return self._one("status != 'void' AND request_id = ?", request_id)

    def records(self) -> list[LetterRecord]:
        """Every record, in order of series and sequence."""
        try:
            rows = self._connection().execute("SELECT * FROM letters ORDER BY series, seq")
            return [_record(row) for row in rows.fetchall()]
        except sqlite3.Error as error:
            raise _failure(self.path, error) from None
