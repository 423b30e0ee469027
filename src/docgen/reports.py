"""What the library hands back: issued letters and verification reports, as frozen models.

Both serialise to JSON (``model_dump_json()``) for the web portal and ``--json`` output.

Example::

    letter = issuer.issue(request)
    letter.letter_number, letter.path, letter.status     # '12/ILMATE/...', Path(...), 'issued'
    report = verifier.verify_file(letter.path)
    report.ok, report.reasons
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["Check", "IssueOutcome", "IssuedLetter", "Verdict", "VerificationReport"]


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class IssueOutcome(StrEnum):
    """How an ``issue`` call ended for its request."""

    ISSUED = "issued"
    """Newly numbered, signed and recorded."""
    ALREADY_ISSUED = "already_issued"
    """The request id was issued before; this is that letter, unchanged."""
    REVOKED = "revoked"
    """The request id was issued before and the letter has since been revoked."""


class IssuedLetter(_Report):
    """A letter in the register, signed and written."""

    register_id: str
    """Opaque register id; the verification address ends with it."""
    request_id: str
    """The request's idempotency key."""
    letter_number: str
    """The letter number."""
    service: str
    """Service code."""
    directorate: str
    """Issuing Directorate General."""
    outcome: IssueOutcome
    """Issued now, issued before, or revoked since."""
    path: Path
    """The signed PDF."""
    sha256: str
    """SHA-256 of the signed PDF."""
    signer: str
    """Subject of the signing certificate."""
    issued_at: datetime
    """When it was recorded as issued."""
    verification_url: str
    """The address in the QR code."""


class Verdict(StrEnum):
    """The overall result of verifying one file."""

    VALID = "valid"
    """Every check passed."""
    INVALID = "invalid"
    """At least one check failed: do not rely on the letter."""
    UNCHECKED = "unchecked"
    """Nothing found wrong, but something could not be checked (the file could not be read, the
    signer's revocation status or the register was unavailable): do not rely on the letter."""


class Check(_Report):
    """One check made on a letter."""

    name: str
    """What was checked, e.g. ``integrity``."""
    passed: bool
    """Whether it passed."""
    detail: str
    """What was found, in words."""
    checked: bool = True
    """False when the check could not be made at all (a service did not answer, the register
    could not be read, revocation was not checked): such a failure makes the verdict
    ``unchecked``, while any other failure makes it ``invalid``."""


class TimestampInfo(_Report):
    """A timestamp found in a letter."""

    kind: str
    """``signature`` (on the signature, B-T) or ``document`` (over the whole file, B-LTA)."""
    time: datetime
    """The time it attests."""
    authority: str
    """The timestamping authority's name."""
    trusted: bool
    """Whether the authority chains to a trust root."""


class VerificationReport(_Report):
    """Everything verification found about one file; ``ok`` only when every check passed."""

    file: str
    """The file verified."""
    verdict: Verdict
    """Valid, invalid, or could not be checked."""
    checks: tuple[Check, ...]
    """Each check and its result, in the order made."""
    signer: str | None = None
    """Subject of the signing certificate, when there is a signature."""
    signing_time: datetime | None = None
    """The signing time the signature claims."""
    letter_number: str | None = None
    """The letter number, from the register."""
    register_status: str | None = None
    """``issued``, ``revoked`` ... when a register was consulted."""
    level: str | None = None
    """The PAdES level found: B-B, B-T, B-LT or B-LTA."""
    timestamps: tuple[TimestampInfo, ...] = ()
    """The signature and document timestamps, oldest first."""
    revocation: str | None = None
    """The signer's revocation status, and where it comes from."""
    offline: bool = False
    """Whether the letter embeds its validation data under a document timestamp (B-LTA)."""

    @classmethod
    def unchecked(cls, file: str, check: str, detail: str) -> VerificationReport:
        """The report of a file that could not be checked at all, and why."""
        return cls(
            file=file,
            verdict=Verdict.UNCHECKED,
            checks=(Check(name=check, passed=False, detail=detail, checked=False),),
        )

    @property
    def ok(self) -> bool:
        """True only when every check passed."""
        return self.verdict is Verdict.VALID

    @property
    def reasons(self) -> tuple[str, ...]:
        """The details of the failed checks."""
        return tuple(f"{check.name}: {check.detail}" for check in self.checks if not check.passed)
