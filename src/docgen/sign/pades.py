"""The PAdES step: a certification signature, visible, with the verification QR code.

The signature is PAdES baseline B-B (``ETSI.CAdES.detached``, SHA-256) and a *certification*
signature that allows no changes afterwards (DocMDP P1), so any later edit shows up in
verification. It is drawn in the space the template reserved for it; the QR code, which leads to
the letter's verification page, is drawn in the space reserved for it (see
:mod:`docgen.sign.appearance`).

One pass: the renderer's PDF is opened once, and the request attachment, the metadata, the QR
code and the signature go into one incremental update, which the signature covers whole.

With a :class:`~docgen.sign.remote.RemoteBackend` the letter is prepared the same way (QR code
drawn, signature spot found), then sent to the remote signing service with the field placement;
the service draws its own appearance and signs, and the result is checked before it is accepted
(:func:`~docgen.sign.remote.accept_signed_pdf`). Remote signing is B-B: a higher level with a
remote backend is a :class:`ConfigError` (:meth:`PadesSigner.check_backend`).

Example::

    pades = PadesSigner(settings)
    signed = pades.sign(pdf, backend, request.signatory, verification_url, attach=request)
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.stamp import StaticStampStyle

from docgen._pdf import embed_request, open_update, signed_revision_sha256
from docgen.config import Settings
from docgen.errors import ConfigError, SigningError
from docgen.formatting import tanggal
from docgen.models import LetterRequest, Signatory
from docgen.sign.appearance import (
    QR_ANCHOR,
    SIGNATURE_ANCHOR,
    PdfPageContent,
    place_qr_and_signature,
    signature_appearance,
)
from docgen.sign.backends import LetterSigner, SignerBackend
from docgen.sign.remote import RemoteBackend, SignatureField, accept_signed_pdf
from docgen.sign.services import TrustServices
from docgen.verify.revisions import first_signature

__all__ = ["LEVELS", "QR_ANCHOR", "SIGNATURE_ANCHOR", "PadesSigner", "SignedPdf", "resolve_level"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedPdf:
    """A signed letter."""

    pdf: bytes
    """The signed PDF."""
    signer: str
    """Subject of the signing certificate."""
    signed_at: datetime
    """The signing time shown on the letter (the CMS signing time is within a second of it)."""
    level: str
    """The PAdES level it was signed at (B-B, B-T, B-LT, B-LTA)."""
    sha256: str
    """SHA-256 of the whole file."""
    signed_sha256: str | None
    """SHA-256 of the revision the signature covers (see ``signed_revision_sha256``)."""


def _signed(pdf: bytes, signer: str, signed_at: datetime, level: str) -> SignedPdf:
    """A signed letter with its hashes, from the bytes in hand where the level allows."""
    whole = hashlib.sha256(pdf).hexdigest()
    # up to B-T the signature's revision is the whole file; above, validation data follows it
    signed = whole if level in ("B-B", "B-T") else signed_revision_sha256(pdf)
    return SignedPdf(pdf, signer, signed_at, level, whole, signed)


LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
"""The PAdES baseline levels, weakest first."""


def _owner(signer: LetterSigner, backend: SignerBackend) -> str:
    """Whose revocation data a letter embeds: its signing certificate's, by fingerprint."""
    certificate = signer.signing_cert
    return certificate.sha256.hex() if certificate is not None else backend.subject


def resolve_level(settings: Settings) -> str:
    """The level letters are signed at: ``auto`` is B-LTA with a timestamping authority."""
    signing = settings.signing
    if signing.level != "auto":
        if signing.level != "B-B" and not signing.timestamp_url:
            raise ConfigError(
                f"Signature level {signing.level} needs a timestamping authority "
                "(signing.timestamp_url)"
            )
        return signing.level
    if signing.timestamp_url:
        return "B-LTA"
    return "B-B"


class PadesSigner:
    """Signs rendered letters; build once from settings, share between threads.

    One timestamp client, and the revocation data of each signer's chain fetched once and
    reused while fresh (``signing.revocation_refresh_seconds``) by every thread, not per
    letter; each signature gets a validation context of its own (see
    :mod:`docgen.sign.services`).
    """

    def __init__(self, settings: Settings):
        """Prepare the signature parameters and the trust services (timestamps, trust roots)."""
        self._settings = settings
        self._zone = ZoneInfo(settings.signing.timezone)
        self.level = resolve_level(settings)
        self._services = TrustServices(settings)
        self._warned = False
        # the space a signature takes, by signing certificate and level: pyHanko otherwise
        # builds a whole dummy signature per letter to estimate it (a third of its signing time)
        self._reserved: dict[tuple[str, str], int] = {}

    def check_backend(self, backend: SignerBackend | RemoteBackend) -> None:
        """Refuse a backend that cannot sign at the configured level (remote above B-B)."""
        if isinstance(backend, RemoteBackend) and self.level != "B-B":
            raise ConfigError(
                f"Signature level {self.level} cannot be reached with the remote signing "
                "service: it receives the finished letter and returns it signed, so docgen "
                "cannot add a signature timestamp or validation data. Set signing.level = "
                '"B-B" (or leave signing.timestamp_url empty with level "auto") to sign remotely'
            )

    def sign(
        self,
        pdf: bytes,
        backend: SignerBackend | RemoteBackend,
        signatory: Signatory,
        verification_url: str,
        *,
        attach: LetterRequest | None = None,
    ) -> SignedPdf:
        """Certify-sign a rendered letter with a visible signature and the verification QR.

        With ``attach``, the request is embedded in the same update as the signature (a letter
        rendered without its attachment, see ``Renderer.render_final``).

        Requests to the timestamping authority and revocation services are bounded by
        ``signing.timeout_seconds`` and tried ``signing.retries`` more times; then the letter is
        refused with :class:`ServiceUnavailable` — never signed at a lower level than asked.

        A :class:`RemoteBackend` signs once (no retries here): transport failures are
        :class:`ServiceUnavailable`, a refusal :class:`~docgen.sign.remote.RemoteSigningRefused`,
        and a returned document that fails the checks :class:`SigningError`.
        """
        self.check_backend(backend)
        if isinstance(backend, RemoteBackend):
            return self._sign_remotely(pdf, backend, verification_url, attach)
        if self.level == "B-B" and self._settings.signing.level == "auto" and not self._warned:
            self._warned = True  # once per process, and only when a letter is really signed
            log.warning(
                "No timestamping authority is configured (signing.timestamp_url): letters are "
                "signed at PAdES B-B and cannot be validated once the signer's certificate expires"
            )
        return self._services.with_retries(
            lambda: self._sign_once(pdf, backend, signatory, verification_url, attach),
            f"Could not sign at {self.level}",
            "the letter was not issued",
        )

    def _sign_once(
        self,
        pdf: bytes,
        backend: SignerBackend,
        signatory: Signatory,
        verification_url: str,
        attach: LetterRequest | None,
    ) -> SignedPdf:
        signing = self._settings.signing
        now = datetime.now(self._zone)
        when = f"{tanggal(now.date())} pukul {now:%H.%M} {signing.zone_label}"
        position = " ".join(part for part in (signatory.acting, signatory.title) if part)
        signer = backend.signer.for_letter()  # certificates of its own: see docgen.sign.copies
        space = (_owner(signer, backend), self.level)
        reserved = self._reserved.get(space)
        try:
            writer, spot = self._prepare(pdf, verification_url, attach)
            field = fields.SigFieldSpec(spot.name, on_page=spot.page, box=spot.box)
            metadata = signers.PdfSignatureMetadata(
                field_name=signing.field_name,
                md_algorithm="sha256",
                subfilter=fields.SigSeedSubFilter.PADES,
                certify=True,
                docmdp_permissions=fields.MDPPerm.NO_CHANGES,
                reason=signing.reason,
                location=self._settings.agency.place,
                name=signatory.name,
                embed_validation_info=self.level in ("B-LT", "B-LTA"),
                use_pades_lta=self.level == "B-LTA",
                validation_context=(
                    self._services.validation_context(_owner(signer, backend))
                    if self.level in ("B-LT", "B-LTA")
                    else None
                ),
            )
            appearance = signature_appearance(
                "Ditandatangani secara elektronik oleh", signatory.name, position, when
            )
            style = StaticStampStyle(
                background=PdfPageContent(appearance), border_width=0, background_opacity=1.0
            )
            pdf_signer = signers.PdfSigner(
                metadata,
                signer=signer,
                stamp_style=style,
                new_field_spec=field,
                timestamper=self._services.timestamper() if self.level != "B-B" else None,
            )
            out = pdf_signer.sign_pdf(writer, bytes_reserved=reserved).getvalue()
        except PyhankoSigningError as error:
            if reserved is not None and "larger than expected" in str(error):
                # a signature outgrew the space its first one took (a longer timestamp, say):
                # estimate again, as pyHanko does
                self._reserved.pop(space, None)
                return self._sign_once(pdf, backend, signatory, verification_url, attach)
            raise  # a certificate or service problem: TrustServices tells which
        except (PdfError, ValueError, KeyError) as error:
            raise SigningError(f"Could not sign the letter: {error}") from error
        if reserved is None:  # the space pyHanko estimated, with its margin: /Contents' length
            _, first, second, _ = first_signature(out).byte_range
            self._reserved[space] = second - first - 2
        return _signed(out, backend.subject, now, self.level)

    def _prepare(
        self, pdf: bytes, verification_url: str, attach: LetterRequest | None
    ) -> tuple[IncrementalPdfFileWriter, SignatureField]:
        """The letter opened for its signature's update: attachment, QR code, the field's spot."""
        writer = open_update(pdf)
        if attach is not None:
            embed_request(writer, attach)
        field = place_qr_and_signature(writer, verification_url, self._settings.signing.field_name)
        return writer, field

    def _sign_remotely(
        self,
        pdf: bytes,
        backend: RemoteBackend,
        verification_url: str,
        attach: LetterRequest | None,
    ) -> SignedPdf:
        """Prepare the letter, have the service sign it, and accept it only if it checks out."""
        now = datetime.now(self._zone)
        try:
            writer, field = self._prepare(pdf, verification_url, attach)
            if "/AcroForm" not in writer.root:
                # an empty signed form (SigFlags 3), so the check of the service's update can
                # compare the form before and after
                form = generic.DictionaryObject(
                    {
                        generic.NameObject("/Fields"): generic.ArrayObject(),
                        generic.NameObject("/SigFlags"): generic.NumberObject(3),
                    }
                )
                writer.root[generic.NameObject("/AcroForm")] = writer.add_object(form)
                writer.update_root()
            buffer = io.BytesIO()
            writer.write(buffer)
            prepared = buffer.getvalue()
        except (PdfError, ValueError, KeyError) as error:
            raise SigningError(f"Could not prepare the letter for signing: {error}") from error
        signed = backend.sign(prepared, field)
        accepted = accept_signed_pdf(
            prepared, signed, field, self._services.trust_roots(), backend.subject
        )
        when = accepted.signed_at.astimezone(self._zone) if accepted.signed_at else now
        return _signed(signed, accepted.signer, when, "B-B")
