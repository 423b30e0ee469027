"""What the register holds: letters, their status, and the audit trail of every change."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

__all__ = ["AuditEvent", "EventKind", "LetterFacts", "LetterRecord", "LetterStatus"]


class LetterStatus(StrEnum):
    """Where a letter stands in the register."""

    RESERVED = "reserved"
    ISSUED = "issued"
    VOID = "void"
    REVOKED = "revoked"


class EventKind(StrEnum):
    """A kind of change in the audit trail."""

    RESERVED = "reserved"
    """A number was taken for a request."""
    TAKEN_OVER = "taken_over"
    """A reservation whose process was gone, or whose lease ran out, passed to another."""
    ISSUED = "issued"
    """The signed letter was recorded."""
    VOIDED = "voided"
    """Rendering, signing or writing failed; the number stays consumed."""
    REVOKED = "revoked"
    """An issued letter was revoked."""
    FILE_COMPLETED = "file_completed"
    """A letter's file was moved into place after a crash had interrupted its issue."""
    RECORDED = "recorded"
    """The letter's state when the audit trail began (a register made by an earlier docgen)."""


@dataclass(frozen=True, slots=True)
class Numbering:
    """How a letter of one service, on one day, is numbered: all the register needs of it.

    Made by the catalogue (``Service.numbering``); the register takes the series' next sequence
    number and fills it in, and never formats numbers from a service itself.
    """

    service: str
    """The service's catalogue code, recorded with the letter."""
    directorate: str
    """Its Directorate General's code, recorded with the letter."""
    series: str
    """The counter the number is taken from, e.g. ``ILMATE/PERTEK-BAJA/2026``."""
    pattern: str
    """The number with ``{seq}`` (or ``{seq:04d}``, say) where the sequence number goes, every
    other field filled in and literal braces doubled: ``{seq}/ILMATE/PERTEK/XII/2026``."""

    def number(self, seq: int | str) -> str:
        """The letter number with sequence number ``seq`` (a placeholder string for a draft)."""
        return self.pattern.format(seq=seq)

    def around_seq(self) -> tuple[str, str] | None:
        """The number's text before and after a plain decimal sequence number, if it is one.

        None when the pattern formats the number otherwise (``{seq:05d}``, say).
        """
        prefix, found, suffix = self.pattern.partition("{seq}")
        if not found or "{seq" in suffix:
            return None
        before, after = prefix.format(), suffix.format()  # literal braces undoubled
        probe = 987654  # "{{seq}}" is literal text, say: the split must give the number itself
        return (before, after) if self.number(probe) == f"{before}{probe}{after}" else None


@dataclass(frozen=True, slots=True)
class LetterFacts:
    """What an issued letter shows that its other columns do not: for the verification page.

    Recorded with the issue, so that the page shows what the letter shows without reading the
    letter's file (which may live on another machine).
    """

    subject: str
    """*Hal*, as printed."""
    signatory: str
    """The signing official's name, as printed under the signature."""
    position: str
    """The official's position as printed: acting mark (Plt./Plh.) and title."""
    level: str
    """The PAdES level the letter was signed at (B-B, B-T, B-LT, B-LTA)."""
    valid_until: date | None = None
    """The letter's last day of validity, when it has one."""

    def to_json(self) -> str:
        """The facts as the register stores them."""
        fields = {
            "subject": self.subject,
            "signatory": self.signatory,
            "position": self.position,
            "level": self.level,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }
        return json.dumps(fields, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LetterFacts:
        """The facts from what :meth:`to_json` stored."""
        fields = json.loads(text)
        until = fields.get("valid_until")
        return cls(
            subject=str(fields["subject"]),
            signatory=str(fields["signatory"]),
            position=str(fields["position"]),
            level=str(fields["level"]),
            valid_until=date.fromisoformat(until) if until else None,
        )


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
    facts: LetterFacts | None = None
    """What the issued letter shows beyond the columns above (None before it is issued, and
    for letters issued before docgen recorded them)."""


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One entry of the audit trail; entries are only ever added, never changed."""

    id: int
    """Position in the trail (ascending in the order the changes were made)."""
    register_id: str
    """The letter's register id."""
    letter_number: str
    """The letter's number."""
    event: EventKind
    """What happened."""
    at: datetime
    """When (UTC)."""
    node: str
    """The machine that made the change (``letter_register.node``, else its host name)."""
    process: str
    """The process that made it: its id and kernel start time, ``pid:start``."""
    reason: str | None
    """Why, or the facts of the change (the signer and hash, the former owner)."""


def when(value: object) -> datetime:
    """A stored time as an aware UTC datetime (SQLite stores ISO text, PostgreSQL timestamptz)."""
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(parsed, datetime):
        raise TypeError(f"not a time: {value!r}")
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def day(value: object) -> date:
    """A stored date (ISO text in SQLite, a date in PostgreSQL)."""
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def letter_record(row: Mapping[str, Any]) -> LetterRecord:
    """A ``letters`` row as a record."""
    return LetterRecord(
        register_id=row["register_id"],
        request_id=row["request_id"],
        request_hash=row["request_hash"],
        series=row["series"],
        seq=int(row["seq"]),
        letter_number=row["letter_number"],
        service=row["service"],
        directorate=row["directorate"],
        applicant_nib=row["applicant_nib"],
        applicant=row["applicant"],
        decision=row["decision"],
        issued_on=day(row["issued_on"]),
        status=LetterStatus(row["status"]),
        reason=row["reason"],
        signer=row["signer"],
        pdf_sha256=row["pdf_sha256"],
        signed_sha256=row["signed_sha256"],
        pdf_path=row["pdf_path"],
        reserved_at=when(row["reserved_at"]),
        issued_at=when(row["issued_at"]) if row["issued_at"] is not None else None,
        changed_at=when(row["changed_at"]),
        facts=LetterFacts.from_json(row["facts"]) if row["facts"] else None,
    )


def audit_event(row: Mapping[str, Any]) -> AuditEvent:
    """A ``letter_events`` row as an event."""
    return AuditEvent(
        id=int(row["id"]),
        register_id=row["register_id"],
        letter_number=row["letter_number"],
        event=EventKind(row["event"]),
        at=when(row["at"]),
        node=row["node"],
        process=row["process"],
        reason=row["reason"],
    )
