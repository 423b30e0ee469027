"""What the site shows of a letter: only what the letter itself shows, from the register."""

from __future__ import annotations

import re
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict

from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.errors import DocgenError
from docgen.register import LetterRecord, LetterStatus

__all__ = ["REGISTER_ID", "LetterState", "LetterView", "letter_view"]

REGISTER_ID = re.compile(r"^[0-9a-f]{32}$")
"""What a register id looks like (128 random bits in hex); anything else is unknown unread."""


class LetterState(StrEnum):
    """Where an issued letter stands, as the site says it."""

    VALID = "valid"
    """Issued, not revoked, and within its period of validity (or it has none)."""
    EXPIRED = "expired"
    """Issued and not revoked, but its period of validity has ended."""
    REVOKED = "revoked"
    """Issued, then revoked."""


class LetterView(BaseModel):
    """A letter as the verification page and ``GET /api/v1/letters/{id}`` show it."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    register_id: str
    """The id the verification address ends with."""
    state: LetterState
    """Issued and valid, issued and expired, or revoked."""
    letter_number: str
    """The number printed in the letter."""
    letter_date: date
    """The letter's date."""
    directorate_general: str
    """The issuing Directorate General, as the letterhead names it."""
    service: str
    """The kind of letter (the service's title)."""
    decision: str
    """``approved`` or ``rejected``."""
    applicant: str
    """The applicant company's name."""
    subject: str | None
    """*Hal*; None for letters issued before docgen recorded it."""
    signatory: str | None
    """The signing official's name as printed; None when not recorded."""
    position: str | None
    """The official's position as printed; None when not recorded."""
    signed_by: str
    """The name in the signing certificate."""
    level: str | None
    """The PAdES level the letter was signed at; None when not recorded."""
    valid_until: date | None
    """The letter's last day of validity, when it has one."""
    revoked_on: date | None
    """When the letter was revoked."""
    revocation_reason: str | None
    """Why it was revoked."""
    sha256: str
    """SHA-256 of the file as issued."""


def letter_view(
    record: LetterRecord, settings: Settings, catalogue: Catalogue, zone: ZoneInfo
) -> LetterView | None:
    """The public view of a record; None for a number never issued (reserved or void)."""
    if record.status not in (LetterStatus.ISSUED, LetterStatus.REVOKED):
        return None
    assert record.pdf_sha256 is not None and record.signer is not None
    facts = record.facts
    try:
        service = catalogue.get(record.service).title
    except DocgenError:
        service = record.service  # a service since removed from the catalogue
    try:
        directorate = settings.directorate(record.directorate).name
    except DocgenError:
        directorate = record.directorate
    today = datetime.now(zone).date()
    valid_until = facts.valid_until if facts else None
    revoked = record.status is LetterStatus.REVOKED
    state = (
        LetterState.REVOKED
        if revoked
        else LetterState.EXPIRED
        if valid_until is not None and valid_until < today
        else LetterState.VALID
    )
    return LetterView(
        register_id=record.register_id,
        state=state,
        letter_number=record.letter_number,
        letter_date=record.issued_on,
        directorate_general=directorate,
        service=service,
        decision=record.decision,
        applicant=record.applicant,
        subject=facts.subject if facts else None,
        signatory=facts.signatory if facts else None,
        position=facts.position if facts else None,
        signed_by=record.signer,
        level=facts.level if facts else None,
        valid_until=valid_until,
        revoked_on=record.changed_at.astimezone(zone).date() if revoked else None,
        revocation_reason=record.reason if revoked else None,
        sha256=record.pdf_sha256,
    )
