"""What ties a signed letter to the ministry, and whether it is still in force.

A trust root vouches for every certificate it issued. For a national CA that is every official
of every agency, not only this ministry's Directorates General: a chain to the root says who
signed, not that they may sign this letter. Two things tie a letter to the ministry: the
register, which holds the letter's signed revision as issued, and the ministry's own signing
certificates (``verification.signers``), each for one Directorate General. Without either, a
letter cannot be valid; with the certificates, a letter must be signed with one of the
certificates of the Directorate General its service belongs to.

The service and the validity period are read from the request embedded in the signed revision,
which the signature covers: nothing added later can change them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from asn1crypto import x509

from docgen._pdf import read_request_json
from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.errors import ConfigError, RenderError
from docgen.reports import Check
from docgen.sign.backends import common_name
from docgen.sign.copies import keep_certificates

__all__ = ["NOT_BOUND", "SignedFacts", "Signers", "signed_facts", "validity_check"]


@dataclass(frozen=True)
class SignedFacts:
    """What the signed revision's embedded request says of the letter."""

    service: str | None
    """The service code, when the letter carries a request that names one."""
    valid_until: date | None
    """The last day the letter is in force (approvals); None when it has none."""
    problem: str | None = None
    """Why the request cannot be relied on (ambiguous, unreadable, a date that is none)."""


def signed_facts(signed_revision: bytes) -> SignedFacts:
    """The service and validity of the request embedded in the signed revision.

    Read as plain JSON, not through the request model: a letter issued under older rules must
    still be read. The request must be held as docgen holds it, with nothing another reader
    could show instead (see :func:`docgen._pdf.read_request_json`). A letter without a
    readable request, or with a ``valid_until`` that is no date, has a ``problem``.
    """
    try:
        data = json.loads(read_request_json(signed_revision, only=True))
    except RenderError as error:
        return SignedFacts(None, None, str(error))
    except ValueError:
        return SignedFacts(None, None, "The PDF's request data is not JSON")
    if not isinstance(data, dict):
        return SignedFacts(None, None, "The PDF's request data is not a request")
    service = data.get("service")
    service = service if isinstance(service, str) else None
    until = data.get("valid_until")
    if until is None:
        return SignedFacts(service, None)
    try:
        if not isinstance(until, str) or len(until) != 10:
            raise ValueError(until)
        return SignedFacts(service, date.fromisoformat(until))
    except ValueError:
        return SignedFacts(service, None, f"The request's valid_until {until!r} is no date")


class Signers:
    """The ministry's signing certificates by Directorate General, and its services' owners."""

    def __init__(self, certificates: Mapping[str, Iterable[Path]], services: Mapping[str, str]):
        """``certificates`` by Directorate General code; ``services``: service code to its DG."""
        self._services = dict(services)
        self._fingerprints: dict[str, frozenset[str]] = {}
        for code, paths in certificates.items():
            try:
                kept = keep_certificates(paths)
            except OSError as error:
                raise ConfigError(f"Cannot read a signing certificate of {code}: {error}") from None
            self._fingerprints[code] = frozenset(
                hashlib.sha256(item.der).hexdigest() for item in kept
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> Signers | None:
        """The configured signing certificates (``verification.signers``); None without any."""
        if not settings.verification.signers:
            return None
        catalogue = Catalogue.load(settings.templates / "catalogue.toml")
        owners = {service.code: service.directorate_general for service in catalogue}
        return cls(settings.verification.signers, owners)

    def __bool__(self) -> bool:
        return any(self._fingerprints.values())

    def check(self, certificate: x509.Certificate | None, facts: SignedFacts) -> Check:
        """The ``signer`` check: signed with a certificate of the letter's own DG."""
        if facts.service is None and facts.problem is not None:
            return Check(name="signer", passed=False, detail=facts.problem)
        directorate = self._services.get(facts.service or "")
        if directorate is None:
            what = f"service {facts.service}" if facts.service else "no service"
            return Check(
                name="signer",
                passed=False,
                detail=f"the signed letter names {what}, which the catalogue does not hold",
            )
        if certificate is None:
            return Check(name="signer", passed=False, detail="no signing certificate was read")
        if hashlib.sha256(certificate.dump()).hexdigest() in self._fingerprints.get(
            directorate, frozenset()
        ):
            return Check(
                name="signer",
                passed=True,
                detail=f"signed with one of {directorate}'s signing certificates, "
                f"for its service {facts.service}",
            )
        return Check(
            name="signer",
            passed=False,
            detail=f"signed with a certificate that is not one of {directorate}'s signing "
            f"certificates ({common_name(certificate)})",
        )


NOT_BOUND = Check(
    name="signer",
    passed=False,
    detail="not checked: no register and no signing certificates of the ministry "
    "(verification.signers) tie the signature to the ministry; a trust root vouches for "
    "everyone it certified",
    checked=False,
)
"""The ``signer`` check when nothing can tie the letter to the ministry."""


def validity_check(facts: SignedFacts, on: date) -> Check | None:
    """The ``validity`` check: in force on ``on`` (None: the letter has no validity period)."""
    if facts.problem is not None:
        return Check(name="validity", passed=False, detail=facts.problem)
    if facts.valid_until is None:
        return None
    until = facts.valid_until.isoformat()
    if on > facts.valid_until:
        return Check(
            name="validity", passed=False, detail=f"the letter's validity ended on {until}"
        )
    return Check(name="validity", passed=True, detail=f"in force until {until}")
