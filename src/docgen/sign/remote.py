"""Remote signing: the national CA's signing service keeps the key; docgen sends the letter.

BSrE, the Indonesian government CA, signs with keys it keeps. The official authorises each
signature with their NIK (16-digit national identity number) and a passphrase; the service signs
the uploaded PDF and returns it. :class:`RemoteSigningService` is that service as docgen needs
it, :class:`RemoteBackend` one official's account on it. :class:`~docgen.sign.PadesSigner`
recognises a :class:`RemoteBackend`: it prepares the letter exactly as for a local key (the QR
code drawn into its reserved space, the signature spot found), sends the prepared PDF with the
placement of the signature field, and **checks** what comes back before accepting it
(:func:`accept_signed_pdf`): exactly one new signature, in the named field, intact, valid and
chaining to ``verification.trust``, a certification signature allowing no changes, covering the
whole file, the prepared PDF a prefix of the result (the service only appended), and nothing but
the signature field added. A misbehaving service never produces an issued letter.

**Level.** docgen sends a finished document and receives it signed, so it cannot add a
signature timestamp or validation data in that revision: remote signing is PAdES B-B as far as
docgen is concerned. A level above B-B with a remote backend is a :class:`ConfigError`
(``signing.level = "B-B"``, or ``auto`` without ``signing.timestamp_url``). A service that
timestamps on its own still passes the checks; the letter is then recorded as B-B.

**Writing a real client.** Implement :class:`RemoteSigningService` — no subclassing needed::

    class BsreClient:
        def __init__(self, base_url: str, *, timeout: float = 30.0): ...

        def sign_pdf(self, pdf, *, nik, passphrase, field):
            # one HTTPS request: POST {base_url}/api/sign/pdf, multipart/form-data with
            #   file=<pdf> (application/pdf), nik, passphrase, tampilan=visible,
            #   page=field.page + 1 (the API counts from 1), xAxis/yAxis/width/height or the
            #   box corners in points, and the field name where the API takes one;
            # requests.post(..., timeout=(connect, read)) — never without a timeout, and
            # never log the form (it holds the passphrase);
            # map the outcome:
            #   200 + application/pdf        -> return response.content
            #   401/403, or a JSON error that says the NIK or passphrase is wrong, the
            #   certificate is not active or the account is locked
            #                                -> raise RemoteSigningRefused(message without
            #                                   the passphrase)
            #   connection refused/reset, TLS failure, timeout, 429, 5xx
            #                                -> raise ServiceUnavailable (retryable)
            #   anything else                -> raise SigningError(status and a short excerpt)

The backend also maps the transport errors a client forgets to map (``OSError`` such as
``ConnectionError`` and ``TimeoutError``, ``requests.RequestException``) to
:class:`~docgen.errors.ServiceUnavailable`. A refused or failed request is not tried again
in-process: a batch marks :class:`ServiceUnavailable` retryable, and a refusal needs a person.

The passphrase is never logged and never appears in a message or a ``repr``; it comes from a
value or a callable asked at each signature (a prompt, a secrets manager).

Example::

    backend = RemoteBackend(nik="3174012345670001", passphrase=ask, service=BsreClient(url))
    with Issuer(settings, signers={"ILMATE": backend}) as issuer:
        issuer.issue(request)
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol, runtime_checkable

import requests
from asn1crypto import x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    CatalogModificationRule,
    DiffResult,
    ModificationLevel,
    StandardDiffPolicy,
)
from pyhanko.sign.diff_analysis.constants import ROOT_EXEMPT_STRICT_COMPARISON
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from docgen.errors import DocgenError, ServiceUnavailable, SigningError
from docgen.sign.backends import common_name

__all__ = [
    "AcceptedSignature",
    "PassphraseSource",
    "RemoteBackend",
    "RemoteSigningRefused",
    "RemoteSigningService",
    "SignatureField",
    "accept_signed_pdf",
]

PassphraseSource = str | Callable[[], str]
"""The passphrase itself, or a callable that returns it when a signature is made."""

_TRANSPORT_ERRORS = (OSError, requests.RequestException)

# pyHanko's policy for changes after a signature, where the catalog may also gain /Perms: the
# update that adds a certification signature points /Perms /DocMDP at it. What may be added
# besides is what form filling allows (a signature field, its widget and appearance).
_SIGNING_UPDATE_POLICY = StandardDiffPolicy(
    global_rules=[
        CatalogModificationRule(ignored_keys=ROOT_EXEMPT_STRICT_COMPARISON | {"/Perms"}),
        *(
            rule
            for rule in DEFAULT_DIFF_POLICY.global_rules
            if not isinstance(rule, CatalogModificationRule)
        ),
    ],
    form_rule=DEFAULT_DIFF_POLICY.form_rule,
)


class RemoteSigningRefused(SigningError):
    """The signing service refused: wrong NIK or passphrase, certificate not active, locked."""


@dataclass(frozen=True, slots=True)
class SignatureField:
    """Where the service puts the visible signature (it draws its own appearance)."""

    name: str
    """Name of the signature field to create (``signing.field_name``)."""
    page: int
    """Page index, counted from 0."""
    box: tuple[int, int, int, int]
    """The field's rectangle in PDF points, (x1, y1, x2, y2): lower left, upper right."""


@runtime_checkable
class RemoteSigningService(Protocol):
    """The national CA's signing API, as docgen needs it."""

    def sign_pdf(self, pdf: bytes, *, nik: str, passphrase: str, field: SignatureField) -> bytes:
        """Sign ``pdf`` for the official with ``nik``; return the signed PDF.

        The service appends one incremental update holding a new visible, certifying (DocMDP
        P1) PAdES signature in ``field``. Raises :class:`RemoteSigningRefused` when the NIK or
        passphrase is refused, :class:`~docgen.errors.ServiceUnavailable` when the service
        cannot be reached or does not answer in time.
        """
        ...


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


@dataclass(frozen=True, slots=True, repr=False)
class RemoteBackend:
    """One official's account on the remote signing service; a signer backend for PadesSigner."""

    nik: str
    """The official's NIK: 16 digits."""
    passphrase: PassphraseSource = dataclasses.field(repr=False)
    """The passphrase, or a callable returning it; never logged, never shown."""
    service: RemoteSigningService
    """The signing service client."""
    subject: str | None = None
    """The common name the signing certificate must have; None accepts any trusted one."""
    kind: str = "remote"
    """Which backend: always ``remote``."""

    def __post_init__(self) -> None:
        if not (self.nik.isascii() and self.nik.isdigit() and len(self.nik) == 16):
            raise SigningError("The NIK of a remote signing account must be 16 digits")

    def __repr__(self) -> str:
        return f"RemoteBackend(nik='…{self.nik[-4:]}', subject={self.subject!r})"

    def sign(self, pdf: bytes, field: SignatureField) -> bytes:
        """Ask the service to sign ``pdf`` in ``field``; transport failures are retryable."""
        secret = self.passphrase() if callable(self.passphrase) else self.passphrase
        try:
            signed = self.service.sign_pdf(pdf, nik=self.nik, passphrase=secret, field=field)
        except DocgenError as error:
            if secret and secret in str(error):  # a careless client echoed the form
                raise type(error)(_redact(str(error), secret)) from None
            raise
        except _TRANSPORT_ERRORS as error:
            detail = _redact(str(error), secret)
            raise ServiceUnavailable(
                "The signing service did not answer "
                f"({type(error).__name__}{': ' + detail if detail else ''}); "
                "the letter was not signed, try again later"
            ) from None
        if not isinstance(signed, bytes):
            raise SigningError("the signing service returned a document that is not a PDF")
        return signed


class AcceptedSignature(NamedTuple):
    """The signature the service made, once checked."""

    signer: str
    """Common name of the signing certificate."""
    signed_at: datetime | None
    """The signing time the signature states, if it states one."""


def _refused(problem: str) -> SigningError:
    return SigningError(f"the signing service returned a document that {problem}")


def accept_signed_pdf(
    prepared: bytes,
    returned: bytes,
    field: SignatureField,
    trust_roots: Sequence[x509.Certificate],
    subject: str | None = None,
) -> AcceptedSignature:
    """Check what the service returned; who signed it and when, if it may be issued.

    Raises :class:`SigningError` ("the signing service returned a document that ...") unless
    ``returned`` is ``prepared`` with exactly one update appended that adds one signature in
    ``field``: intact, cryptographically valid, chaining to ``trust_roots`` (no fetching), a
    certification signature allowing no changes, covering the whole file, and changing nothing
    but the signature field.
    """
    if len(returned) <= len(prepared) or not returned.startswith(prepared):
        if returned == prepared:
            raise _refused("is not signed (it is the document sent, unchanged)")
        raise _refused("is not the document sent (it does not extend it)")
    try:
        before = PdfFileReader(io.BytesIO(prepared), strict=False)
        reader = PdfFileReader(io.BytesIO(returned), strict=False)
        existing = len(before.embedded_signatures)
        signatures = reader.embedded_signatures
        if len(signatures) != existing + 1:
            raise _refused(f"holds {len(signatures) - existing} new signatures instead of one")
        signature = signatures[-1]
        if signature.field_name != field.name:
            raise _refused(f"is signed in field {signature.field_name!r}, not {field.name!r}")
        if signature.docmdp_level is not MDPPerm.NO_CHANGES:
            raise _refused("is not certified with no changes allowed (DocMDP P1)")
        context = ValidationContext(trust_roots=list(trust_roots), allow_fetching=False)
        status = validate_pdf_signature(
            signature, signer_validation_context=context, ts_validation_context=context
        )
        if not status.intact or not status.valid:
            raise _refused("has a broken signature (the signed bytes do not match it)")
        if status.coverage is not SignatureCoverageLevel.ENTIRE_FILE:
            raise _refused("has a signature that does not cover the whole file")
        if not status.trusted:
            raise _refused(
                "is signed with a certificate that does not chain to the trust roots "
                "(settings: verification.trust)"
            )
        signer = common_name(status.signing_cert)
        if subject is not None and signer != subject:
            raise _refused(f"is signed by {signer!r}, not by {subject!r}")
        diff = _SIGNING_UPDATE_POLICY.review_file(reader, before.xrefs.total_revisions - 1)
        if not isinstance(diff, DiffResult) or diff.modification_level > (
            ModificationLevel.FORM_FILLING
        ):
            raise _refused("changes more than adding the signature")
    except SigningError:
        raise
    except Exception as error:  # fail closed: whatever cannot be checked is not accepted
        detail = str(error) or type(error).__name__
        raise _refused(f"cannot be checked as a signed PDF ({detail})") from None
    return AcceptedSignature(signer, status.signer_reported_dt)
