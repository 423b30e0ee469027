"""The Verifier: checks that a letter is genuine, unchanged, issued and not revoked.

Verification fails closed: every check must pass for a valid verdict, and anything unexpected —
a truncated file, a PDF that does not parse, a signature pyHanko cannot read — is a failed check
with its reason, never a crash. The checks, in order:

``signature``      the file carries a signature
``integrity``      the signed bytes are unchanged (the document digest matches)
``cryptography``   the signature value is valid for the signer's key
``trust``          the signer's certificate chains to a configured trust root, and was valid
``coverage``       the signature covers the whole document
``structure``      docgen's own strict reading of the raw bytes: the signature's unsigned gap
                   is exactly its ``/Contents``, and every revision after the signed one is
                   well-formed, read the same by pyHanko, and holds only validation data and
                   document timestamps (see :mod:`docgen.verify.updates`)
``modifications``  nothing was changed after signing (pyHanko's difference analysis; only
                   timestamp and validation-data updates are acceptable)
``certification``  the certification signature's no-changes permission is respected
``revocation``     the signer's certificate was not revoked: from the validation data in the
                   letter, or asked of the issuing CA online; never assumed. Only a chain that
                   holds to the trust roots is asked about, and only at the addresses its own
                   certificates name: a crafted certificate makes no request
``register``       the letter is in the register with this exact file, and is not revoked
                   (only when a register is configured)

A check that could not be made at all (``checked`` false: the revocation services did not
answer or were not asked, the register could not be read) makes the verdict ``unchecked``; any
other failure makes it ``invalid``. Only a report whose every check passed is ``valid``.

Example::

    verifier = Verifier.from_settings(settings)
    report = verifier.verify_file(Path("letter.pdf"))
    report.ok, report.reasons
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pyhanko.pdf_utils.misc import PdfReadError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.ades.report import AdESPassed
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.fields import MDPPerm
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.ades import ades_lta_validation
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko.sign.validation.status import PdfSignatureStatus, SignatureCoverageLevel
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.errors import RevokedError
from pyhanko_certvalidator.fetchers.common_utils import enumerate_delivery_point_urls
from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.policy_decl import (
    NO_REVOCATION,
    REQUIRE_REVINFO,
    CertRevTrustPolicy,
    FreshnessReqType,
)
from pyhanko_certvalidator.registry import SimpleTrustManager
from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps

from docgen.config import Settings
from docgen.errors import ConfigError, RegisterError
from docgen.register import LetterStatus, Register, open_register
from docgen.reports import Check, TimestampInfo, Verdict, VerificationReport
from docgen.sign.backends import common_name
from docgen.sign.copies import fresh_all, keep_certificates
from docgen.sign.services import RevocationAnswers, fetching_context
from docgen.verify.binding import NOT_BOUND, Signers, signed_facts, validity_check
from docgen.verify.intake import verify_path
from docgen.verify.pdfsyntax import StructureError
from docgen.verify.revisions import (
    SignedRevision,
    TooManyRevisions,
    Update,
    agree_with_pyhanko,
    first_signature,
    read_updates,
)
from docgen.verify.updates import CHANGED, check_updates

__all__ = ["Verifier"]

_ACCEPTABLE = (ModificationLevel.NONE, ModificationLevel.LTA_UPDATES)
_DETAIL_LIMIT = 240
_UNREACHABLE = "could not be checked: the revocation services did not answer"
_NOT_CHECKED = "not checked: the letter carries no revocation data under a document timestamp, and"
_STRUCTURE_OK = "only validation data and document timestamps follow the signed revision"
_UNREAD = f"{CHANGED}, or broken: pyHanko cannot read what the strict reader read"


@dataclass(frozen=True, slots=True)
class _Raw:
    """What the strict reading of the raw bytes found, before pyHanko reads anything."""

    failure: Check | None
    """The failed ``structure`` check, or None while pyHanko's agreement is still to be seen."""
    signed: SignedRevision | None = None
    updates: list[Update] | None = None
    signed_sha256: str | None = None
    """SHA-256 of the signed revision, when the signature's byte range was sound."""
    stop: bool = False
    """True when the file must not be handed to pyHanko at all (too many revisions)."""


def _read_raw(data: bytes, max_revisions: int) -> _Raw:
    """Docgen's own reading of the signature and what follows it, independent of pyHanko."""
    try:
        signed = first_signature(data)
    except StructureError as error:
        return _Raw(_failed_structure(str(error)))
    signed_sha256 = hashlib.sha256(data[: signed.end]).hexdigest()
    try:
        updates = read_updates(data, signed, max_revisions=max_revisions)
    except TooManyRevisions as error:
        return _Raw(_failed_structure(str(error)), signed_sha256=signed_sha256, stop=True)
    except StructureError as error:
        return _Raw(_failed_structure(_as_change(error)), signed_sha256=signed_sha256)
    return _Raw(None, signed, updates, signed_sha256)


class Verifier:
    """Verifies letters against trust roots and, optionally, the register; safe between threads.

    Build once and share: every verification makes its own pyHanko contexts, and only immutable
    settings, the trust roots, the revocation answers (behind a lock) and the register are
    shared.
    """

    def __init__(
        self,
        trust_roots: Iterable[Path],
        register: Register | None = None,
        *,
        at: datetime | None = None,
        fetch_timeout: float | None = None,
        register_problem: str | None = None,
        max_file_bytes: int = 50 * 1024 * 1024,
        max_revisions: int = 100,
        answer_max_age: float = 300.0,
        signers: Signers | None = None,
        timezone: str = "Asia/Jakarta",
    ):
        """Trust the certificates in ``trust_roots``; cross-check ``register`` when given.

        ``at`` validates as of another time than now (an audit, or a clock moved forward to see
        what a letter will show years from now). With ``fetch_timeout``, a letter that embeds no
        revocation data (B-B, B-T) has its signer's status fetched online, hard-fail: when the
        services do not answer the letter is "could not be checked", never valid. Without it,
        or with ``at``, that status cannot be known and such a letter is "could not be checked"
        too. ``register_problem`` says why a configured register could not be opened: every
        report then has an unchecked ``register`` check. Files larger than ``max_file_bytes``
        are refused unread; more than ``max_revisions`` revisions after the signature make a
        file invalid before pyHanko parses it. Revocation answers fetched online are reused for
        ``answer_max_age`` seconds, by every thread using this verifier. ``signers`` are the
        ministry's signing certificates by Directorate General (see :mod:`docgen.verify.binding`):
        a letter must be signed with one of its own Directorate General's; without them and
        without a register, no letter is valid. A letter's validity period ends on its
        ``valid_until`` day in ``timezone``.
        """
        self.register = register
        self._register_problem = register_problem
        self._signers = signers
        self._zone = ZoneInfo(timezone)
        self._at = at
        # services answer for today: fetching makes no sense for another validation time
        self._fetch_timeout = fetch_timeout if at is None else None
        self._max_file_bytes = max_file_bytes
        self._max_revisions = max_revisions
        # revocation answers fetched for B-B and B-T letters, shared by the threads verifying
        self._answers = RevocationAnswers(answer_max_age)
        try:
            # kept as bytes: each verification parses copies of its own (docgen.sign.copies)
            self._roots = keep_certificates(trust_roots)
        except OSError as error:
            raise ConfigError(f"Cannot read a trust root: {error}") from None
        if not self._roots:
            raise ConfigError(
                "No trust roots configured: verification would trust nobody. Name the "
                "certificates to trust in verification.trust (docgen.toml) or with --trust"
            )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        trust: Iterable[Path] | None = None,
        use_register: bool = True,
        at: datetime | None = None,
        online: bool = True,
    ) -> Verifier:
        """A verifier with the configured trust roots (or ``trust``) and the register.

        The register is opened read-only and never created: a configured register that does
        not exist or cannot be read leaves every report unchecked, never valid by omission.
        """
        register, problem = None, None
        if use_register:
            try:
                register = open_register(settings, read_only=True)
            except RegisterError as error:
                problem = f"could not be checked: {error}"
        roots = list(trust) if trust is not None else list(settings.verification.trust)
        timeout = settings.signing.timeout_seconds if online else None
        limits = settings.verification
        return cls(
            roots,
            register,
            at=at,
            fetch_timeout=timeout,
            register_problem=problem,
            max_file_bytes=limits.max_file_bytes,
            max_revisions=limits.max_revisions,
            answer_max_age=settings.signing.revocation_refresh_seconds,
            signers=Signers.from_settings(settings),
            timezone=settings.signing.timezone,
        )

    def _context(
        self, stamped_data: DocumentSecurityStore | None, signature: EmbeddedPdfSignature
    ) -> tuple[ValidationContext, bool, bool | None]:
        """The signer's context, whether it holds revocation data, whether trusted but for that.

        ``stamped_data`` is the letter's DSS when it holds revocation data and the letter has
        document timestamps, else None (see below).

        The third value says whether the signer is trusted when its revocation is not required,
        None when that was not asked.

        Revocation data embedded in a letter counts only under a document timestamp (B-LTA):
        the timestamp proves when the data was there, and the letter is then checked against
        it hard-fail, offline. Without one, the data proves nothing: anyone may append a DSS
        (an allowed update) holding answers saved before the signer's key was revoked, still
        within their validity. So a B-B, B-T or B-LT letter has its signer checked as if it
        embedded nothing: with fetching on, the signer's chain is first validated offline,
        and only a chain that holds to the trust roots has its revocation fetched online, from
        the addresses its own certificates name and no others. Anyone may upload a letter, and
        a certificate nobody vouched for may name any address, this host's own services
        included (server-side request forgery). Otherwise the revocation is reported as not
        checked.
        """
        if stamped_data is not None:
            offline = {**self._base(fetch=False), "revocation_mode": "hard-fail"}
            return stamped_data.as_validation_context(offline), True, None
        if self._fetch_timeout is None:
            return self._without_revocation(), False, None
        # trust does not depend on the difference analysis: it is made once, by the validation
        # that counts
        unrevoked = validate_pdf_signature(
            signature, signer_validation_context=self._without_revocation(), skip_diff=True
        )
        if unrevoked.trusted and unrevoked.validation_path is not None:
            return self._online_context(_revocation_urls(unrevoked.validation_path)), False, True
        # not trusted even before revocation: nothing is fetched, and the verdict is not valid
        return self._without_revocation(), False, False

    def _base(self, *, fetch: bool) -> dict[str, Any]:
        """What every validation context shares: the trust roots and the validation time."""
        base: dict[str, Any] = {"trust_roots": fresh_all(self._roots), "allow_fetching": fetch}
        if self._at is not None:
            base["moment"] = self._at
        return base

    def _online_context(self, allowed_urls: frozenset[str]) -> ValidationContext:
        """A fetching context for one letter; the answers it fetches serve the next letters.

        Only ``allowed_urls`` are asked, and no issuer certificate is fetched. A context per
        letter, because pyHanko's contexts may not be shared between threads (their fetchers
        keep asyncio events of one event loop); the answers are shared, each request bounded
        in all by the fetch timeout.
        """
        assert self._fetch_timeout is not None
        base = self._base(fetch=True)
        del base["allow_fetching"]
        return fetching_context(
            self._fetch_timeout, self._answers, "verify", allowed_urls=allowed_urls, **base
        )

    def _without_revocation(self) -> ValidationContext:
        """A context that checks chain and validity period, not revocation.

        Timestamps are checked in it: a timestamp's job is to prove a time long after its
        authority's revocation data has gone stale; requiring fresh revocation data for every
        authority would make every archived letter unverifiable offline. The signer's
        revocation is always required (see :meth:`_context`).
        """
        return ValidationContext(**self._base(fetch=False), revocation_mode="soft-fail")

    def verify_file(self, path: Path) -> VerificationReport:
        """Verify one file; a file that cannot be read gives an ``unchecked`` report.

        Anything but a regular file, and any file over the size limit, is refused before it is
        read, so a device or pipe can neither block verification nor fill memory.
        """
        return verify_path(path, self._max_file_bytes, self.verify)

    def verify(self, data: bytes, *, name: str = "<bytes>") -> VerificationReport:
        """Verify a letter given as bytes; every input ends in a report, never an exception."""
        checks: list[Check] = []
        facts: dict[str, object] = {}
        if len(data) > self._max_file_bytes:
            detail = f"larger than the limit of {self._max_file_bytes} bytes"
            checks.append(Check(name="file", passed=False, detail=detail, checked=False))
        else:
            raw = _read_raw(data, self._max_revisions)
            facts["signed_sha256"] = raw.signed_sha256
            if not raw.stop:
                try:
                    self._verify_signature(data, checks, facts, raw)
                except Exception as error:  # fail closed: any parse problem fails verification
                    detail = str(error)[:_DETAIL_LIMIT] or type(error).__name__
                    checks.append(
                        Check(name="signature", passed=False, detail=f"unreadable: {detail}")
                    )
            if not any(check.name == "structure" for check in checks):
                # pyHanko stopped before the strict reader's verdict was set beside its own
                found = facts.get("structure")
                checks.append(
                    found if isinstance(found, Check) else raw.failure or _failed_structure(_UNREAD)
                )
        if self._register_problem is not None:
            checks.append(
                Check(name="register", passed=False, detail=self._register_problem, checked=False)
            )
        elif self.register is not None:
            try:
                checks.append(self._verify_register(data, facts))
            except Exception as error:  # the register path fails closed as well
                detail = f"could not be checked: {str(error)[:_DETAIL_LIMIT]}"
                checks.append(Check(name="register", passed=False, detail=detail, checked=False))
        failed = [check for check in checks if not check.passed]
        verdict = (
            Verdict.VALID
            if not failed
            else Verdict.UNCHECKED
            if all(not check.checked for check in failed)
            else Verdict.INVALID
        )
        return VerificationReport(
            file=name,
            verdict=verdict,
            checks=tuple(checks),
            signer=_str(facts.get("signer")),
            signing_time=_time(facts.get("signing_time")),
            letter_number=_str(facts.get("letter_number")),
            register_status=_str(facts.get("register_status")),
            level=_str(facts.get("level")),
            timestamps=facts.get("timestamps", ()),  # type: ignore[arg-type]
            revocation=_str(facts.get("revocation")),
            offline=bool(facts.get("offline", False)),
        )

    @staticmethod
    def _agreement(
        data: bytes, raw: _Raw, reader: PdfFileReader, signature: EmbeddedPdfSignature
    ) -> Check:
        """The ``structure`` check: the strict reading, and pyHanko's reading held against it.

        This is docgen's own line of defence, independent of pyHanko's difference analysis:
        what pyHanko reads is compared with what a strict reader reads, and what the updates
        hold is compared with what may follow an issued letter's signature.
        """
        if raw.failure is not None:
            return raw.failure
        assert raw.signed is not None and raw.updates is not None
        try:
            if tuple(int(value) for value in signature.sig_object.raw_get("/ByteRange")) != (
                raw.signed.byte_range
            ):
                raise StructureError("pyHanko reads another signature than the strict reader")
            index = agree_with_pyhanko(reader, raw.signed, raw.updates)
            check_updates(reader, index, raw.updates, data)
        except StructureError as error:
            return _failed_structure(_as_change(error))
        except Exception as error:  # pyHanko could not resolve an object: fail closed
            detail = f"{CHANGED}, and the updates cannot be read: {error or type(error).__name__}"
            return _failed_structure(detail)
        count = f" ({len(raw.updates)} update(s))" if raw.updates else " (none)"
        return Check(name="structure", passed=True, detail=_STRUCTURE_OK + count)

    def _verify_signature(
        self, data: bytes, checks: list[Check], facts: dict[str, object], raw: _Raw
    ) -> None:
        """The checks of pyHanko's reading, with the ``structure`` check placed among them."""
        try:
            reader = PdfFileReader(io.BytesIO(data), strict=False)
            signatures = reader.embedded_regular_signatures
        except (PdfReadError, ValueError, KeyError, IndexError) as error:
            checks.append(
                Check(name="signature", passed=False, detail=f"not a readable PDF: {error}")
            )
            return
        if not signatures:
            checks.append(Check(name="signature", passed=False, detail="the file is not signed"))
            return
        checks.append(
            Check(name="signature", passed=True, detail=f"{len(signatures)} signature(s) found")
        )
        # the first signature is docgen's certification signature; later ones would be changes
        signature = signatures[0]
        structure = self._agreement(data, raw, reader, signature)
        facts["structure"] = structure
        validation_data = _revocation_data(reader)
        stamped = bool(reader.embedded_timestamp_signatures)
        context, embedded, unrevoked_trusted = self._context(
            validation_data if stamped else None, signature
        )
        stamps_context = self._without_revocation()
        status = validate_pdf_signature(
            signature, signer_validation_context=context, ts_validation_context=stamps_context
        )
        facts["signer"] = common_name(status.signing_cert)
        facts["signing_time"] = status.signer_reported_dt
        status_checks = _status_checks(
            status, signature.docmdp_level, len(signatures), _trailing_bytes(data, reader)
        )
        status_checks.insert(-2, structure)
        if embedded and status.intact and status.valid:
            # B-LTA: judge trust the long-term way, at the time the document timestamps prove
            status_checks = [
                self._long_term_trust(signature) if check.name == "trust" else check
                for check in status_checks
            ]
        checks.extend(status_checks)
        stamps: list[tuple[str, Any]] = []
        if status.timestamp_validity is not None:
            stamps.append(("signature", status.timestamp_validity))
        for document_stamp in reader.embedded_timestamp_signatures:
            stamp_status = validate_pdf_timestamp(document_stamp, validation_context=stamps_context)
            stamps.append(("document", stamp_status))
        stamp_checks = [_timestamp_check(f"{kind} timestamp", stamp) for kind, stamp in stamps]
        # the earliest time a timestamp proves the signature existed
        proven = min(
            (
                stamp.timestamp
                for (_, stamp), check in zip(stamps, stamp_checks, strict=True)
                if check.passed
            ),
            default=None,
        )
        # asked only of a chain proven to hold to the trust roots (no requests on a stranger's
        # behalf, as for B-B letters: see _context)
        revoked_at = self._revoked_now(status) if embedded and _passed(checks, "trust") else None
        checks.append(
            self._revocation(
                status, embedded, unrevoked_trusted, checks, facts, (revoked_at, proven)
            )
        )
        checks.extend(stamp_checks)
        # what the signature covers says which service the letter is and until when it holds
        signed = signed_facts(data[: raw.signed.end] if raw.signed is not None else data)
        if self._signers:
            checks.append(self._signers.check(status.signing_cert, signed))
        elif self.register is None and self._register_problem is None:
            checks.append(NOT_BOUND)
        on = (self._at or datetime.now(UTC)).astimezone(self._zone).date()
        if (validity := validity_check(signed, on)) is not None:
            checks.append(validity)
        timestamps = [_timestamp(kind, stamp.timestamp, stamp) for kind, stamp in stamps]
        facts["timestamps"] = tuple(timestamps)
        facts["level"] = (
            "B-LTA"
            if embedded
            else "B-LT"
            if validation_data is not None and timestamps
            else "B-T"
            if timestamps
            else "B-B"
        )
        facts["offline"] = embedded

    def _revocation(
        self,
        status: PdfSignatureStatus,
        embedded: bool,
        unrevoked_trusted: bool | None,
        checks: list[Check],
        facts: dict[str, object],
        now_and_proven: tuple[datetime | None, datetime | None] = (None, None),
    ) -> Check:
        """Whether the signer's certificate was revoked; hard-fail, never assumed good.

        A B-LTA letter is judged by the revocation data it embeds (good only when the signer's
        trust was established with it), and, where the CA can be asked, by what the CA says
        now: ``now_and_proven`` holds when the CA says the certificate was revoked (None: not
        revoked, or not known) and the earliest time the letter's timestamps prove. Revoked
        at or before that time, the letter is invalid, whatever its embedded data says: CRLs
        and OCSP answers kept from before a revocation stay within their validity for hours
        or days after it, long enough to stamp a forgery made with the compromised key.
        Revoked later, the letter was signed while the certificate was good. Any other letter
        has the issuing CA asked online; when it does not answer, or when it may not be asked
        (offline, or validating as of another time), the check is not made and the verdict
        cannot be valid.
        ``unrevoked_trusted`` is whether the signer is trusted when its revocation is not
        required (see :meth:`_context`).
        """
        if status.revoked:
            facts["revocation"] = "revoked"
            return Check(
                name="revocation", passed=False, detail="the signer's certificate was revoked"
            )
        if embedded:
            if not _passed(checks, "trust"):
                detail = "not established from the validation data in the letter"
                facts["revocation"] = detail
                return Check(name="revocation", passed=False, detail=detail)
            detail = "good, from the validation data in the letter"
            revoked_at, proven = now_and_proven
            if revoked_at is not None and (proven is None or revoked_at <= proven):
                detail = (
                    f"the signer's certificate was revoked on {revoked_at:%Y-%m-%d %H:%M %Z}, "
                    "before the time the letter's timestamps prove"
                )
                facts["revocation"] = "revoked"
                return Check(name="revocation", passed=False, detail=detail)
            if revoked_at is not None:
                detail += f" when signed (revoked later, on {revoked_at:%Y-%m-%d %H:%M %Z})"
        elif self._fetch_timeout is None:
            why = "validation is as of another time" if self._at is not None else "fetching is off"
            detail = f"{_NOT_CHECKED} {why}"
            facts["revocation"] = detail
            return Check(name="revocation", passed=False, detail=detail, checked=False)
        elif status.trusted:
            detail = "good, checked online with the issuing CA's services"
        elif status.intact and status.valid and unrevoked_trusted:
            # everything else holds: only the signer's status could not be fetched
            facts["revocation"] = _UNREACHABLE
            checks[:] = [
                Check(name="trust", passed=False, detail=_UNREACHABLE, checked=False)
                if check.name == "trust"
                else check
                for check in checks
            ]
            return Check(name="revocation", passed=False, detail=_UNREACHABLE, checked=False)
        else:
            detail = "not established, because the signer is not trusted"
            facts["revocation"] = detail
            return Check(name="revocation", passed=False, detail=detail)
        facts["revocation"] = detail
        return Check(name="revocation", passed=True, detail=detail)

    def _revoked_now(self, status: PdfSignatureStatus) -> datetime | None:
        """When the CA says now that the signer's chain was revoked; None if not, or unknown.

        Asked only online, as of now, and only of the addresses the chain's own certificates
        name (the chain validated from the letter's data first, see :meth:`_context`). A CA
        that does not answer leaves the embedded data's verdict standing: a B-LTA letter is
        made to be verified without its CA.
        """
        path = status.validation_path
        if self._fetch_timeout is None or path is None or status.signing_cert is None:
            return None
        context = self._online_context(_revocation_urls(path))
        intermediates = list(path.iter_certs(include_root=False))
        validator = CertificateValidator(
            status.signing_cert, intermediate_certs=intermediates, validation_context=context
        )
        try:
            asyncio.run(validator.async_validate_usage(set()))
        except RevokedError as error:
            return error.revocation_dt
        except Exception:  # not known now: the embedded data's verdict stands
            return None
        return None

    def _long_term_trust(self, signature: EmbeddedPdfSignature) -> Check:
        """The trust check of a B-LTA letter, by ETSI EN 319 102-1 long-term validation.

        The document timestamps prove the signature and its validation data existed when they
        were made, so the signer's certificate is judged at that time, from the data embedded
        then: the letter stays valid after the certificate expires. The signer's revocation is
        required (hard-fail). Timestamping authorities are checked for chain and validity
        period, not revocation (see :meth:`_without_revocation`).
        """
        trust = SimpleTrustManager.build(trust_roots=fresh_all(self._roots))
        signer_policy = CertValidationPolicySpec(
            trust_manager=trust,
            revinfo_policy=CertRevTrustPolicy(
                REQUIRE_REVINFO,
                freshness=None,
                freshness_req_type=FreshnessReqType.MAX_DIFF_REVOCATION_VALIDATION,
            ),
        )
        timestamp_policy = CertValidationPolicySpec(
            trust_manager=trust, revinfo_policy=CertRevTrustPolicy(NO_REVOCATION)
        )
        spec = PdfSignatureValidationSpec(
            SignatureValidationSpec(
                cert_validation_policy=signer_policy,
                ts_cert_validation_policy=timestamp_policy,
                revinfo_gathering_policy=RevocationInfoGatheringSpec(
                    online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
                ),
            ),
            # the modifications were judged already, by pyHanko and by the strict reader:
            # judging them a third time here only costs time
            diff_policy=None,
        )
        timing = (
            ValidationTimingInfo(self._at, self._at, point_in_time_validation=True)
            if self._at is not None
            else ValidationTimingInfo.now()
        )
        result = asyncio.run(ades_lta_validation(signature, spec, timing_info=timing))
        if result.ades_subindic is AdESPassed.OK:
            proven = result.oldest_evidence_record_timestamp
            when = f" (proven at {proven:%Y-%m-%d %H:%M:%S %Z})" if proven else ""
            return Check(
                name="trust",
                passed=True,
                detail="the signer's certificate chains to a trusted root and was valid and "
                f"not revoked when signed{when}",
            )
        return Check(
            name="trust",
            passed=False,
            detail=f"long-term validation failed: {_name(result.ades_subindic)}"
            + (f" ({result.failure_msg[:_DETAIL_LIMIT]})" if result.failure_msg else ""),
        )

    def _verify_register(self, data: bytes, facts: dict[str, object]) -> Check:
        assert self.register is not None
        # the signed revision identifies the letter; validation data added later may follow it
        signed = facts.get("signed_sha256")
        record = self.register.by_signed_sha256(signed) if isinstance(signed, str) else None
        record = record or self.register.by_sha256(hashlib.sha256(data).hexdigest())
        if record is None:
            return Check(
                name="register",
                passed=False,
                detail="this letter was not issued by the register (unknown or altered)",
            )
        facts["letter_number"] = record.letter_number
        facts["register_status"] = record.status.value
        number = record.letter_number
        if record.status is LetterStatus.REVOKED:
            passed, detail = False, f"letter {number} was revoked: {record.reason}"
        elif record.status is LetterStatus.ISSUED:
            passed, detail = True, f"letter {number} is issued and not revoked"
        else:
            passed, detail = False, f"letter {number} is {record.status.value}"
        return Check(name="register", passed=passed, detail=detail)


def _passed(checks: list[Check], name: str) -> bool:
    """Whether the check called ``name`` is among ``checks`` and passed."""
    return any(check.name == name and check.passed for check in checks)


def _revocation_data(reader: PdfFileReader) -> DocumentSecurityStore | None:
    """The letter's DSS when it holds revocation answers (OCSP responses or CRLs), else None."""
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return None
    return dss if dss.ocsps or dss.crls else None


def _revocation_urls(path: ValidationPath) -> frozenset[str]:
    """The OCSP and CRL addresses (delta CRLs too) its certificates name, the root's aside.

    Read with certvalidator's own helpers, so these are exactly the addresses it asks.
    """
    urls: set[str] = set()
    for cert in path.iter_certs(include_root=False):
        urls.update(get_ocsp_urls(cert))
        for point in get_relevant_crl_dps(cert, use_deltas=True):
            urls.update(enumerate_delivery_point_urls(point))
    return frozenset(urls)


def _failed_structure(detail: str) -> Check:
    return Check(name="structure", passed=False, detail=detail[: _DETAIL_LIMIT * 2])


def _as_change(error: StructureError) -> str:
    """A strict reader's complaint about an update, as the change after signing it is."""
    message = str(error)
    return message if message.startswith(CHANGED) else f"{CHANGED}: {message}"


def _trailing_bytes(data: bytes, reader: PdfFileReader) -> int:
    """How many bytes follow the end of the file's last revision (its ``%%EOF``), line ends aside.

    Such bytes belong to no revision, so neither a signature nor pyHanko's difference analysis
    (which compares revisions) sees them; a genuine letter ends at its last ``%%EOF``.
    """
    end = data.find(b"%%EOF", reader.last_startxref or 0)
    if end < 0:
        return 0  # no marker after the last cross-reference section: the reader would refuse it
    return len(data[end + len(b"%%EOF") :].strip(b"\r\n"))


def _status_checks(
    status: PdfSignatureStatus, docmdp: MDPPerm | None, count: int, trailing: int
) -> list[Check]:
    coverage = status.coverage
    modification = status.modification_level
    # beyond the signed revision only timestamp and validation-data revisions may follow;
    # anything else (bytes appended without a revision, say) is not covered by the signature
    whole = trailing == 0 and (
        coverage is SignatureCoverageLevel.ENTIRE_FILE
        or (
            coverage is SignatureCoverageLevel.ENTIRE_REVISION
            and modification is ModificationLevel.LTA_UPDATES
        )
    )
    uncovered = f"{trailing} bytes after the file's last revision" if trailing else _name(coverage)
    if status.trusted:
        trust_detail = "the signer's certificate chains to a trusted root and was valid"
    elif not status.intact or not status.valid:
        # pyHanko evaluates trust only for an intact, valid signature: do not blame the key
        trust_detail = "not evaluated, because the signed content or signature is broken"
    else:
        trust_detail = f"the signer's certificate is not trusted: {_trust_problem(status)}"
    changes = (
        "no changes after signing"
        if modification in _ACCEPTABLE and count == 1
        else f"the document was changed after signing ({_modification(status, count)})"
    )
    return [
        Check(
            name="integrity",
            passed=status.intact,
            detail="the signed content is unchanged"
            if status.intact
            else "the signed content was altered",
        ),
        Check(
            name="cryptography",
            passed=status.valid,
            detail="the signature value is valid" if status.valid else "the signature is invalid",
        ),
        Check(name="trust", passed=status.trusted, detail=trust_detail),
        Check(
            name="coverage",
            passed=whole,
            detail="the signature covers the whole document"
            if whole
            else f"the signature does not cover the whole document ({uncovered})",
        ),
        Check(
            name="modifications",
            passed=modification in _ACCEPTABLE and count == 1,
            detail=changes,
        ),
        Check(
            name="certification",
            passed=docmdp is MDPPerm.NO_CHANGES and status.docmdp_ok is not False,
            detail="certified with no changes permitted, and none made"
            if docmdp is MDPPerm.NO_CHANGES and status.docmdp_ok is not False
            else f"certification permissions not respected (permission {_name(docmdp)})",
        ),
    ]


_TRUST_PROBLEMS = {
    "NO_CERTIFICATE_CHAIN_FOUND": "it does not chain to any configured trust root",
    "OUT_OF_BOUNDS_NO_POE": "it has expired (or is not yet valid), and no timestamp proves "
    "the letter was signed while it was valid",
    "EXPIRED": "it was expired at the signing time",
    "NOT_YET_VALID": "it was not yet valid at the signing time",
    "REVOKED_NO_POE": "it was revoked",
    "REVOKED_CA_NO_POE": "an issuing CA's certificate was revoked",
    "REVOKED": "it was revoked",
    "CHAIN_CONSTRAINTS_FAILURE": "the certificate chain breaks a constraint",
    "SIG_CONSTRAINTS_FAILURE": "it is not fit for signing documents (key usage)",
}


def _timestamp(kind: str, when: datetime, status: Any) -> TimestampInfo:
    return TimestampInfo(
        kind=kind, time=when, authority=common_name(status.signing_cert), trusted=status.trusted
    )


def _timestamp_check(name: str, status: Any) -> Check:
    passed = bool(status.intact and status.valid and status.trusted)
    when = f"{status.timestamp:%Y-%m-%d %H:%M:%S %Z}"
    authority = common_name(status.signing_cert)
    return Check(
        name=name,
        passed=passed,
        detail=f"{when} by {authority}"
        if passed
        else f"the timestamp of {when} by {authority} is not valid or not trusted",
    )


def _trust_problem(status: PdfSignatureStatus) -> str:
    problem = status.trust_problem_indic
    name = str(getattr(problem, "name", ""))
    return _TRUST_PROBLEMS.get(name, _name(problem) if problem else "reason unknown")


def _modification(status: PdfSignatureStatus, count: int) -> str:
    if count > 1:
        return f"{count - 1} further signature(s) added"
    if status.coverage is SignatureCoverageLevel.ENTIRE_REVISION and status.modification_level in (
        _ACCEPTABLE
    ):
        return _name(status.modification_level)
    level = _name(status.modification_level)
    detail = getattr(status.diff_result, "args", None)
    if not detail:
        return level
    # pyHanko lists every object it found changed; the first line says what kind of change
    first = str(detail[0]).strip().splitlines()[0]
    return f"{level}: {first[:_DETAIL_LIMIT]}{'...' if len(first) > _DETAIL_LIMIT else ''}"


def _name(value: object) -> str:
    return str(getattr(value, "name", value)).replace("_", " ").lower()


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _time(value: object) -> datetime | None:
    return value if isinstance(value, datetime) else None
