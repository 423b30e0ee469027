"""The letter register: numbers, idempotency, status and an audit trail, in SQLite or PostgreSQL.

Every letter gets its number here, once. The rules, the same on both databases:

- **Numbers** come per series (by default a Directorate General's year, ``ILMATE/2026``),
  sequential, never reused and never duplicated, however many processes (on however many
  machines) issue at once: the series' counter is advanced inside the transaction that records
  the reservation, holding the counter's lock to its end (SQLite: the file's write lock, taken
  first with ``BEGIN IMMEDIATE``; PostgreSQL: the counter row's lock).
- **Idempotency**: a request id is issued at most once. Issuing it again returns the letter
  already issued (same number, same file); the same id with different content is refused.
- **Reservations**: a number is reserved before the letter is rendered and signed, then the
  record is marked issued once the signed file is in place. If rendering or signing fails, the
  record is marked **void** with the reason and no file is left; the number stays consumed (it
  is never given to another letter) and the void record accounts for the gap. A reservation
  belongs to its owner, named by node, process id and the process's start time. One whose
  process died is taken over by the next attempt at the same request, keeping its number: at
  once when that process ran on the same node (it is known to be gone), otherwise once the
  lease (``letter_register.lease_seconds``) has run out.
- **Revocation** marks an issued letter revoked, with a reason and time; verification then fails.
- **Audit trail**: every change (reserved, taken over, issued, voided, revoked, file completed
  after a crash) adds an entry with its time, node, process and reason to ``letter_events``,
  which the database itself keeps append-only. ``docgen register history NUMBER`` prints it.
- **Created only on purpose**: ``docgen register init`` makes a new register; opening one that
  does not exist is a :class:`~docgen.errors.RegisterError`, never a fresh empty register. A
  fresh register would number from 1 again, and its letters would collide with the letters the
  lost one issued.
- **Schema versions**: numbered migrations (:mod:`docgen.register.migrations`), applied by
  ``docgen register init`` or ``migrate``; a register of another version is not used.
- **Locks and outages** are retryable: a lock held longer than ``timeout`` seconds is
  :class:`~docgen.errors.RegisterBusy`, a PostgreSQL server that cannot be reached or dropped
  the connection is :class:`~docgen.errors.RegisterUnavailable`.

The backend is chosen in one place, :func:`open_register`, from the settings:
``letter_register.url`` (PostgreSQL) when set, else ``letter_register.path`` (SQLite).

Example::

    register = open_register(settings, create=True)      # once, when setting up
    register = open_register(settings)
    numbering = service.numbering(date.today())
    reservation = register.reserve(request, numbering, request_hash, issued_on=date.today())
    ...
    register.mark_issued(reservation.register_id, sha256=..., path=..., signer=...)
"""

from docgen.register.backend import RegisterBackend
from docgen.register.core import Register, open_register, process_identity
from docgen.register.migrations import SCHEMA_VERSION
from docgen.register.records import (
    AuditEvent,
    EventKind,
    LetterFacts,
    LetterRecord,
    LetterStatus,
    Numbering,
)
from docgen.register.sqlite import SqliteBackend

__all__ = [
    "SCHEMA_VERSION",
    "AuditEvent",
    "EventKind",
    "LetterFacts",
    "LetterRecord",
    "LetterStatus",
    "Numbering",
    "Register",
    "RegisterBackend",
    "SqliteBackend",
    "open_register",
    "process_identity",
]
