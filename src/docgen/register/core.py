"""The register's rules, written once for both databases; :func:`open_register` picks one."""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docgen.errors import (
    DocgenError,
    LetterInProgress,
    RegisterError,
    RequestConflict,
    UnknownLetter,
)
from docgen.files import process_start
from docgen.models import LetterRequest
from docgen.register.backend import Duplicate, RegisterBackend, Session
from docgen.register.migrations import SCHEMA_VERSION, apply_migrations, schema_version
from docgen.register.records import (
    AuditEvent,
    EventKind,
    LetterFacts,
    LetterRecord,
    LetterStatus,
    Numbering,
    audit_event,
    letter_record,
)
from docgen.register.sqlite import SqliteBackend

if TYPE_CHECKING:
    from docgen.config import RegisterSettings, Settings

__all__ = ["Register", "open_register", "process_identity"]

_process: tuple[int, str] | None = None


def process_identity() -> str:
    """The current process as a reservation's owner knows it: ``pid:start`` (kernel start time).

    Computed for the process asking, never inherited: a forked child is a process of its own.
    """
    global _process
    pid = os.getpid()
    if _process is None or _process[0] != pid:
        _process = (pid, f"{pid}:{process_start(pid)}")
    return _process[1]


def new_register_id() -> str:
    """A new letter's register id: 128 random bits, as 32 hex digits.

    The id is the last part of the letter's public verification address, so it must not be
    guessable from another letter's: a UUID4 has only 122 random bits and a fixed version digit.
    """
    return secrets.token_hex(16)


_NOW = object()
"""In a change: the register's current time."""
_NEW_SERIES = "INSERT INTO series (series, last_seq) VALUES (?, 0) ON CONFLICT DO NOTHING"
_TAKE_NUMBER = """
WITH counter AS (
    UPDATE series SET last_seq = last_seq + 1
    WHERE series = ?
        AND NOT EXISTS (SELECT 1 FROM letters WHERE request_id = ? AND status <> 'void')
    RETURNING last_seq
), letter AS (
    INSERT INTO letters (register_id, request_id, request_hash, series, seq, letter_number,
        service, directorate, applicant_nib, applicant, decision, issued_on, status,
        reserved_at, changed_at, owner)
    SELECT ?, ?, ?, ?, last_seq, ? || last_seq || ?, ?, ?, ?, ?, ?, ?, 'reserved',
        statement_timestamp(), statement_timestamp(), ?
    FROM counter
    RETURNING *
), event AS (
    INSERT INTO letter_events (register_id, letter_number, event, at, node, process)
    SELECT register_id, letter_number, 'reserved', reserved_at, ?, ? FROM letter
)
SELECT * FROM letter
"""
"""Take a number and record the reservation, one statement (PostgreSQL); no row: the series
has no counter yet, or the request a live letter."""


def _is_postgres(location: object) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


class Register:
    """The letter register, in SQLite or PostgreSQL; safe across threads, processes and nodes.

    ``location`` is a SQLite file's path, a PostgreSQL address (``postgresql://user@host/db``),
    or a :class:`~docgen.register.backend.RegisterBackend`. Applications open it with
    :func:`open_register`, which reads the settings.

    A register is never created implicitly: ``create`` makes a new one (``docgen register
    init``; :meth:`create` says the same); without it, a missing register, or a database that is
    not a docgen register, is a :class:`RegisterError`, so that a moved or deleted register
    cannot silently restart the numbering. ``migrate`` brings an older schema up to date (see
    :mod:`docgen.register.migrations`); without it a register of another schema version is a
    :class:`RegisterError`.

    ``lease`` is how long a reservation belongs to the process that made it when that process
    ran on another node; after that a new attempt at the same request takes it over. On the same
    node the owner's process is looked up: gone, and the reservation is taken over at once.
    ``node`` names this machine in owners and the audit trail (default: its host name).
    ``read_only`` opens an existing register for reading only, as verification does. ``timeout``
    is how many seconds an operation waits for another process's lock before failing with
    :class:`~docgen.errors.RegisterBusy`.
    """

    def __init__(
        self,
        location: Path | str | RegisterBackend,
        *,
        lease: timedelta = timedelta(minutes=10),
        read_only: bool = False,
        create: bool = False,
        migrate: bool = False,
        timeout: float = 60.0,
        node: str | None = None,
    ):
        """Open the register at ``location`` (see the class)."""
        if read_only and (create or migrate):
            raise ValueError("a register opened read-only cannot be created or migrated")
        if isinstance(location, RegisterBackend):
            self.backend = location
        elif _is_postgres(location):
            from docgen.register.postgres import PostgresBackend

            assert isinstance(location, str)
            self.backend = PostgresBackend(location, read_only=read_only, timeout=timeout)
        else:
            self.backend = SqliteBackend(
                Path(location), read_only=read_only, create=create, timeout=timeout
            )
        self.lease = lease
        self.read_only = read_only
        self.node = node or socket.gethostname()
        self.migrated_from: int | None = None
        """The schema version before this object migrated the register (None: no change)."""
        self.created = False
        """Whether this object made the register (it had no tables before)."""
        try:
            self._set_up(create=create, migrate=create or migrate)
        except BaseException:
            self.backend.close()
            raise

    @classmethod
    def create(
        cls,
        location: Path | str,
        *,
        lease: timedelta = timedelta(minutes=10),
        timeout: float = 60.0,
        node: str | None = None,
    ) -> Register:
        """Make a new register at ``location``, or open and migrate the one there."""
        return cls(location, lease=lease, timeout=timeout, create=True, node=node)

    @property
    def describe(self) -> str:
        """Where the register is, for messages (never with a password)."""
        return self.backend.describe

    def _set_up(self, *, create: bool, migrate: bool) -> None:
        where = self.describe
        not_register = (
            f"{where} is not a docgen register; check letter_register.path in the settings"
        )
        with self.backend.session(write=migrate, doing="could not be opened") as db:
            version = schema_version(db, self.backend)
            if version is None:
                # another application's database, or an empty file: never made into a register
                raise RegisterError(not_register)
            if version == 0 and not create:
                if self.backend.dialect == "sqlite":
                    raise RegisterError(not_register)
                raise RegisterError(
                    f"The register at {where} has no tables yet; a new installation creates "
                    "them with `docgen register init`"
                )
            if migrate and version != SCHEMA_VERSION:
                try:
                    before, _ = apply_migrations(db, self.backend, self._actor())
                except ValueError as error:
                    raise RegisterError(f"{where} cannot be migrated: {error}") from None
                self.migrated_from = before
                self.created = before == 0
            elif version > SCHEMA_VERSION:
                raise RegisterError(
                    f"The register {where} has schema version {version}, made by a newer "
                    f"docgen; this one knows versions up to {SCHEMA_VERSION}: upgrade docgen"
                )
            elif version < SCHEMA_VERSION:
                raise RegisterError(
                    f"The register {where} has schema version {version}, this docgen needs "
                    f"{SCHEMA_VERSION}: run `docgen register migrate` (once, for every node)"
                )
        self.backend.ready(True)

    def _actor(self) -> tuple[str, str]:
        return self.node, process_identity()

    def _owner(self) -> str:
        return f"{self.node}:{process_identity()}"

    def _owner_gone(self, owner: str | None) -> bool:
        """Whether the process that made a reservation is known to be gone.

        Only a process on this node can be known to be gone; for any other, assume it works on
        and let the lease decide.
        """
        if not owner or owner.count(":") < 2:
            return False
        node, pid, started = owner.rsplit(":", 2)
        if node != self.node or not pid.isdigit():
            return False
        return process_start(int(pid)) != started

    def close(self) -> None:
        """Close the connections this object opened (in this process)."""
        self.backend.close()

    def __enter__(self) -> Register:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The register's schema version."""
        with self.backend.session() as db:
            version = schema_version(db, self.backend)
        return version or 0

    # ---------------------------------------------------------------- changes

    def _event(
        self,
        db: Session,
        record: LetterRecord,
        event: EventKind,
        at: datetime,
        reason: str | None = None,
    ) -> None:
        node, process = self._actor()
        db.defer(
            "INSERT INTO letter_events (register_id, letter_number, event, at, node, process, "
            "reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.register_id, record.letter_number, event.value, at, node, process, reason),
        )

    def reserve(
        self, request: LetterRequest, numbering: Numbering, request_hash: str, *, issued_on: date
    ) -> LetterRecord:
        """Reserve a number for a request, or return the live record it already has.

        ``numbering`` says which series the number comes from and how it reads
        (``service.numbering(issued_on)``). Returns an ``issued`` or ``revoked`` record as it
        is when the request was issued before (the caller returns that letter), and a
        ``reserved`` record otherwise (the caller renders, signs, then calls
        :meth:`mark_issued` or :meth:`mark_void`). Raises
        :class:`RequestConflict` for a known request id with different content, and
        :class:`LetterInProgress` when another live process holds the reservation.
        """
        attempt = 0
        while True:
            try:
                record = self._reserve(request, numbering, request_hash, issued_on)
            except Duplicate:
                # another process reserved the same request id at the same moment (PostgreSQL
                # lets both look first): its row is committed now, so look again
                attempt += 1
                if attempt == 3:
                    raise
                continue
            if record is not None:
                return record
            # the series' first number: its counter now exists, so take the number again

    def _reserve(
        self, request: LetterRequest, numbering: Numbering, request_hash: str, issued_on: date
    ) -> LetterRecord | None:
        """One attempt; None when the series had no counter yet (made now: attempt again)."""
        series = numbering.series
        find = "SELECT * FROM letters WHERE request_id = ? AND status <> 'void'"
        template = numbering.around_seq() if self.backend.dialect == "postgresql" else None
        if template is not None:
            # PostgreSQL: a new request's number is taken and its reservation recorded by one
            # statement, its own transaction, so the counter's lock is taken and released by
            # the server alone, never held while it waits for this process. Two attempts at one
            # request id cannot both succeed: the second breaks letters_live_request (Duplicate,
            # and reserve looks again).
            node, process = self._actor()
            with self.backend.session() as db:
                taken = db.one(
                    _TAKE_NUMBER,
                    (
                        series, request.request_id, new_register_id(), request.request_id,
                        request_hash, series, template[0], template[1], numbering.service,
                        numbering.directorate, request.applicant.nib,
                        request.applicant.name, request.decision.outcome.value, issued_on,
                        self._owner(), node, process,
                    ),
                )  # fmt: skip
                if taken is not None:
                    return letter_record(taken)
                if db.one(find, (request.request_id,)) is None:
                    db.run(_NEW_SERIES, (series,))  # the series' first number
                    return None
            # the request has a live letter: what to do with it is decided below
        with self.backend.session(write=True) as db:
            now = db.now()
            row = db.one(find, (request.request_id,))
            if row is not None:
                return self._existing(db, row, request, request_hash, now)
            record = LetterRecord(
                register_id=new_register_id(),
                request_id=request.request_id,
                request_hash=request_hash,
                series=series,
                seq=0,  # known once the counter is advanced
                letter_number="",
                service=numbering.service,
                directorate=numbering.directorate,
                applicant_nib=request.applicant.nib,
                applicant=request.applicant.name,
                decision=request.decision.outcome.value,
                issued_on=issued_on,
                status=LetterStatus.RESERVED,
                reason=None,
                signer=None,
                pdf_sha256=None,
                signed_sha256=None,
                pdf_path=None,
                reserved_at=now,
                issued_at=None,
                changed_at=now,
            )
            return self._take_number(db, record, numbering)

    def _take_number(self, db: Session, record: LetterRecord, numbering: Numbering) -> LetterRecord:
        """Advance the series' counter and record the reservation, in ``db``'s transaction."""
        # the counter row's lock is held to the end of this transaction: one number at a time
        # per series, and a rollback gives it back untaken
        advance = "UPDATE series SET last_seq = last_seq + 1 WHERE series = ? RETURNING last_seq"
        counter = db.one(advance, (record.series,))
        if counter is None:  # the series' first number
            db.run(_NEW_SERIES, (record.series,))
            counter = db.one(advance, (record.series,))
        assert counter is not None
        seq = int(counter["last_seq"])
        record = dataclasses.replace(record, seq=seq, letter_number=numbering.number(seq))
        db.defer(
            "INSERT INTO letters (register_id, request_id, request_hash, series, seq, "
            "letter_number, service, directorate, applicant_nib, applicant, decision, "
            "issued_on, status, reserved_at, changed_at, owner) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?, ?)",
            (
                record.register_id, record.request_id, record.request_hash, record.series,
                record.seq, record.letter_number, record.service, record.directorate,
                record.applicant_nib, record.applicant, record.decision, record.issued_on,
                record.reserved_at, record.changed_at, self._owner(),
            ),
        )  # fmt: skip
        self._event(db, record, EventKind.RESERVED, record.reserved_at)
        return record

    def _existing(
        self,
        db: Session,
        row: Mapping[str, Any],
        request: LetterRequest,
        request_hash: str,
        now: datetime,
    ) -> LetterRecord:
        existing = letter_record(row)
        if existing.request_hash != request_hash:
            raise RequestConflict(
                f"Request {request.request_id} was already used for letter "
                f"{existing.letter_number} with different content; a changed decision "
                "needs a new request id"
            )
        if existing.status is not LetterStatus.RESERVED:
            return existing
        owner: str | None = row["owner"]
        gone = self._owner_gone(owner)
        if not gone and now - existing.changed_at < self.lease:
            raise LetterInProgress(
                f"Request {request.request_id} is being issued by another process "
                f"(number {existing.letter_number}); try again shortly"
            )
        # only if nobody took it over meanwhile (the row is as it was read)
        taken = db.one(
            "UPDATE letters SET changed_at = ?, owner = ? WHERE register_id = ? "
            "AND status = 'reserved' AND COALESCE(owner, '') = ? RETURNING *",
            (now, self._owner(), existing.register_id, owner or ""),
        )
        if taken is None:
            raise LetterInProgress(
                f"Request {request.request_id} was just taken over by another process "
                f"(number {existing.letter_number}); try again shortly"
            )
        why = "its process has ended" if gone else "its lease ran out"
        self._event(
            db, existing, EventKind.TAKEN_OVER, now, f"from {owner or 'an unknown owner'}: {why}"
        )
        return letter_record(taken)

    def _get(self, db: Session, register_id: str) -> LetterRecord:
        row = db.one("SELECT * FROM letters WHERE register_id = ?", (register_id,))
        if row is None:
            raise UnknownLetter(f"No register record {register_id}")
        return letter_record(row)

    def _refuse_change(self, db: Session, register_id: str, expected: str) -> DocgenError:
        record = self._get(db, register_id)
        if expected != LetterStatus.RESERVED.value:
            return RegisterError(
                f"Letter {record.letter_number} is no longer {expected} "
                f"(another process marked it {record.status.value})"
            )
        # this process's reservation passed to another (its lease ran out, or it was presumed
        # gone), which issues the letter or has already finished with it: retryable, since
        # asking again returns that letter
        done = (
            ""
            if record.status.value == expected
            else f", which has marked it {record.status.value}"
        )
        return LetterInProgress(
            f"The reservation of letter {record.letter_number} was taken over by another "
            f"process{done} (this one's lease ran out, or it was presumed gone); this attempt "
            "is abandoned: run it again to get the letter"
        )

    def mark_issued(
        self,
        register_id: str,
        *,
        sha256: str,
        path: str,
        signer: str,
        signed_sha256: str | None = None,
        facts: LetterFacts | None = None,
    ) -> LetterRecord:
        """Record that the reserved letter was signed and written (by this reservation's owner).

        ``facts`` are what the letter shows for its verification page.
        """
        return self._finish(
            register_id,
            {
                "status": LetterStatus.ISSUED.value,
                "pdf_sha256": sha256,
                "signed_sha256": signed_sha256 or sha256,
                "pdf_path": path,
                "signer": signer,
                "issued_at": _NOW,
                "facts": facts.to_json() if facts is not None else None,
            },
            EventKind.ISSUED,
            f"signed by {signer}; SHA-256 {sha256}",
        )

    def mark_void(self, register_id: str, reason: str) -> LetterRecord:
        """Record that a reserved letter failed; its number stays consumed."""
        return self._finish(
            register_id,
            {"status": LetterStatus.VOID.value, "reason": reason},
            EventKind.VOIDED,
            reason,
        )

    def _finish(
        self,
        register_id: str,
        changes: dict[str, object],
        event: EventKind,
        reason: str | None,
    ) -> LetterRecord:
        """End this process's reservation (issued or void), with its audit entry, atomically."""
        changes = {**changes, "changed_at": _NOW}
        where = "WHERE register_id = ? AND status = 'reserved' AND owner = ?"
        if self.backend.dialect == "postgresql":
            # one statement, its own transaction: one round trip
            node, process = self._actor()
            columns = ", ".join(
                f"{c} = statement_timestamp()" if v is _NOW else f"{c} = ?"
                for c, v in changes.items()
            )
            values = [v for v in changes.values() if v is not _NOW]
            with self.backend.session() as db:
                row = db.one(
                    f"WITH letter AS (UPDATE letters SET {columns} {where} RETURNING *), "
                    "event AS (INSERT INTO letter_events (register_id, letter_number, event, at, "
                    "node, process, reason) SELECT register_id, letter_number, ?, changed_at, ?, "
                    "?, ? FROM letter) SELECT * FROM letter",
                    (*values, register_id, self._owner(), event.value, node, process, reason),
                )
                if row is None:
                    raise self._refuse_change(db, register_id, "reserved")
                return letter_record(row)
        with self.backend.session(write=True) as db:
            now = db.now()
            columns = ", ".join(f"{c} = ?" for c in changes)
            values = [now if v is _NOW else v for v in changes.values()]
            row = db.one(
                f"UPDATE letters SET {columns} {where} RETURNING *",
                (*values, register_id, self._owner()),
            )
            if row is None:
                raise self._refuse_change(db, register_id, "reserved")
            record = letter_record(row)
            self._event(db, record, event, now, reason)
            return record

    def revoke(self, letter_number: str, reason: str) -> LetterRecord:
        """Revoke an issued letter by its number."""
        with self.backend.session(write=True) as db:
            row = db.one("SELECT * FROM letters WHERE letter_number = ?", (letter_number,))
            if row is None:
                raise UnknownLetter(f"No letter numbered {letter_number} in the register")
            record = letter_record(row)
            if record.status is LetterStatus.REVOKED:
                raise UnknownLetter(f"Letter {letter_number} was already revoked: {record.reason}")
            if record.status is not LetterStatus.ISSUED:
                raise UnknownLetter(
                    f"Letter {letter_number} was never issued ({record.status.value}); "
                    "only an issued letter can be revoked"
                )
            now = db.now()
            changed = db.one(
                "UPDATE letters SET status = 'revoked', reason = ?, changed_at = ? "
                "WHERE register_id = ? AND status = 'issued' RETURNING *",
                (reason, now, record.register_id),
            )
            if changed is None:
                raise self._refuse_change(db, record.register_id, "issued")
            record = letter_record(changed)
            self._event(db, record, EventKind.REVOKED, now, reason)
            return record

    def record_file_completed(self, register_id: str, path: str) -> AuditEvent:
        """Record that a letter's file was moved into place after a crash interrupted its issue."""
        with self.backend.session(write=True) as db:
            record = self._get(db, register_id)
            if record.status not in (LetterStatus.ISSUED, LetterStatus.REVOKED):
                raise RegisterError(
                    f"Letter {record.letter_number} is {record.status.value}, not issued; its "
                    "file cannot have been completed"
                )
            node, process = self._actor()
            row = db.one(
                "INSERT INTO letter_events (register_id, letter_number, event, at, node, process, "
                "reason) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (
                    record.register_id,
                    record.letter_number,
                    EventKind.FILE_COMPLETED.value,
                    db.now(),
                    node,
                    process,
                    f"file moved into place after an interrupted issue: {path}",
                ),
            )
            assert row is not None
            return audit_event(row)

    # ---------------------------------------------------------------- reading

    def _one(self, where: str, value: str) -> LetterRecord | None:
        with self.backend.session() as db:
            found = db.one(f"SELECT * FROM letters WHERE {where}", (value,))
        return letter_record(found) if found is not None else None

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
        return self._one("status <> 'void' AND request_id = ?", request_id)

    def records(self) -> list[LetterRecord]:
        """Every record, in order of series and sequence."""
        with self.backend.session() as db:
            rows = db.rows("SELECT * FROM letters ORDER BY series, seq")
        return [letter_record(row) for row in rows]

    def counters(self) -> dict[str, int]:
        """The last number taken in each series."""
        with self.backend.session() as db:
            rows = db.rows("SELECT series, last_seq FROM series ORDER BY series")
        return {row["series"]: int(row["last_seq"]) for row in rows}

    def history(self, letter_number: str) -> list[AuditEvent]:
        """The audit trail of one letter number, oldest first; :class:`UnknownLetter` if none."""
        with self.backend.session() as db:
            rows = db.rows(
                "SELECT * FROM letter_events WHERE letter_number = ? ORDER BY id",
                (letter_number,),
            )
            if (
                not rows
                and db.one(
                    "SELECT register_id FROM letters WHERE letter_number = ?", (letter_number,)
                )
                is None
            ):
                raise UnknownLetter(f"No letter numbered {letter_number} in the register")
        return [audit_event(row) for row in rows]

    def events(self) -> list[AuditEvent]:
        """The whole audit trail, oldest first."""
        with self.backend.session() as db:
            rows = db.rows("SELECT * FROM letter_events ORDER BY id")
        return [audit_event(row) for row in rows]


def open_register(
    settings: Settings | RegisterSettings,
    *,
    read_only: bool = False,
    create: bool = False,
    migrate: bool = False,
) -> Register:
    """The register the settings name: PostgreSQL when ``letter_register.url`` is set, else SQLite.

    The one place the backend is chosen; the Issuer, the Verifier and the commands all open
    the register here. ``read_only``, ``create`` and ``migrate`` are as for :class:`Register`.
    """
    from docgen.config import Settings

    section = settings.letter_register if isinstance(settings, Settings) else settings
    location: Path | RegisterBackend
    if section.url:
        from docgen.register.postgres import PostgresBackend

        location = PostgresBackend(
            section.url,
            read_only=read_only,
            timeout=section.lock_timeout_seconds,
            connect_timeout=section.connect_timeout_seconds,
            password_file=section.password_file,
        )
    else:
        location = SqliteBackend(
            section.path,
            read_only=read_only,
            create=create,
            timeout=section.lock_timeout_seconds,
        )
    return Register(
        location,
        lease=timedelta(seconds=section.lease_seconds),
        read_only=read_only,
        create=create,
        migrate=migrate,
        timeout=section.lock_timeout_seconds,
        node=section.node or None,
    )
