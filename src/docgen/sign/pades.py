"""The PAdES step: a certification signature, visible, with the verification QR code.

The signature is PAdES baseline B-B (``ETSI.CAdES.detached``, SHA-256) and a *certification*
signature that allows no changes afterwards (DocMDP P1), so any later edit shows up in
verification. It is drawn in the space the template reserved for it; the QR code, which leads to
the letter's verification page, is drawn in the space reserved for it, in the same revision, so
the signature covers it.

Templates reserve the two spaces with named destinations (an ``id`` in HTML, a bookmark in
DOCX): :data:`SIGNATURE_ANCHOR` and :data:`QR_ANCHOR` mark the top-left corner of each space.
Without them, the signature goes to the bottom right of the last page and the QR code to the
bottom left.

The appearance text is laid out by WeasyPrint (so its font is embedded and the PDF/A stays
valid) and kept for reuse: a batch signed by one official within one minute lays it out once.

With a :class:`~docgen.sign.remote.RemoteBackend` the letter is prepared the same way (QR code
drawn, signature spot found), then sent to the remote signing service with the field placement;
the service draws its own appearance and signs, and the result is checked before it is accepted
(:func:`~docgen.sign.remote.accept_signed_pdf`). Remote signing is B-B: a higher level with a
remote backend is a :class:`ConfigError` (:meth:`PadesSigner.check_backend`).

Example::

    pades = PadesSigner(settings)
    signed = pades.sign(pdf, backend, request.signatory, verification_url)
"""

from __future__ import annotations

import functools
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

import qrcode
import weasyprint
from pyhanko.pdf_utils import content, generic, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.stamp import StaticStampStyle

from docgen.config import Settings
from docgen.errors import ConfigError, SigningError
from docgen.formatting import tanggal
from docgen.models import Signatory
from docgen.render.pdf import draw_on_page, keep_xmp_metadata, page_count, page_size
from docgen.sign.backends import LetterSigner, SignerBackend
from docgen.sign.remote import RemoteBackend, SignatureField, accept_signed_pdf
from docgen.sign.services import TrustServices

__all__ = ["LEVELS", "QR_ANCHOR", "SIGNATURE_ANCHOR", "PadesSigner", "SignedPdf", "resolve_level"]

log = logging.getLogger(__name__)


SIGNATURE_ANCHOR = "docgenSignatureBox"
"""Named destination marking the top-left corner of the signature space."""
QR_ANCHOR = "docgenQrBox"
"""Named destination marking the top-left corner of the QR code space."""

_MM = 72 / 25.4
SIGNATURE_SIZE = (70 * _MM, 28 * _MM)
"""Width and height of the visible signature, in points."""
QR_SIZE = 24 * _MM
"""Side of the QR code, in points."""


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


@dataclass(frozen=True, slots=True)
class _Anchor:
    page: int
    left: float
    top: float


def _anchors(writer: IncrementalPdfFileWriter) -> dict[str, _Anchor]:
    """Named destinations, from a name tree (WeasyPrint) or a /Dests dictionary (LibreOffice)."""
    pages = [
        writer.find_page_for_modification(index)[0].idnum for index in range(page_count(writer))
    ]
    found: dict[str, generic.PdfObject] = {}
    root = writer.root
    names = root.get("/Names")
    if names is not None and "/Dests" in names.get_object():
        entries = names.get_object()["/Dests"].get_object().get("/Names", [])
        for index in range(0, len(entries) - 1, 2):
            found[str(entries[index])] = entries[index + 1]
    if "/Dests" in root:
        for key, value in root["/Dests"].get_object().items():
            # LibreOffice writes bookmark names with some characters hex-escaped
            found[str(key).lstrip("/")] = value
    anchors = {}
    for name, value in found.items():
        destination = value.get_object()
        if isinstance(destination, generic.DictionaryObject):
            destination = destination.get("/D")
        try:
            page = pages.index(destination.raw_get(0).idnum)  # plain [0] dereferences
            anchors[name] = _Anchor(page, float(destination[2]), float(destination[3]))
        except (ValueError, IndexError, TypeError, AttributeError):
            continue
    return anchors


def _qr_operators(url: str, left: float, bottom: float, size: float) -> bytes:
    """A QR code as filled squares: crisp at any zoom, no image, no font."""
    code = qrcode.QRCode(border=0, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()
    module = size / len(matrix)
    rectangles = [
        f"{left + x * module:.3f} {bottom + size - (y + 1) * module:.3f} "
        f"{module:.3f} {module:.3f} re"
        for y, row in enumerate(matrix)
        for x, dark in enumerate(row)
        if dark
    ]
    return ("0 g\n" + "\n".join(rectangles) + "\nf").encode()


class _PdfBytes(content.PdfContent):
    """pyHanko content that imports the first page of an in-memory PDF."""

    def __init__(self, pdf: bytes):
        super().__init__()
        self._pdf = pdf

    def render(self) -> bytes:
        xobject = self._ensure_writer.import_page_as_xobject(PdfFileReader(io.BytesIO(self._pdf)))
        self.resources.xobject["/Appearance"] = xobject
        x1, y1, x2, y2 = xobject.get_object()["/BBox"]
        self.box = layout.BoxConstraints(width=abs(x2 - x1), height=abs(y2 - y1))
        return b"/Appearance Do"


@functools.lru_cache(maxsize=64)
def _appearance(heading: str, name: str, position: str, when: str) -> bytes:
    """The visible signature, laid out once per official and minute."""
    width, height = SIGNATURE_SIZE
    html = (
        f"<style>@page{{size:{width:.2f}pt {height:.2f}pt;margin:0}}"
        "body{margin:0;padding:2mm 3mm;font:7.5pt/1.3 'Liberation Sans',sans-serif;color:#000;"
        "border:0.6pt solid #1a4f8b;height:100%;box-sizing:border-box}"
        "p{margin:0}.name{font-weight:bold;font-size:8.5pt;margin-top:1mm}"
        ".small{color:#333}</style>"
        f"<p class=small>{escape(heading)}</p><p class=name>{escape(name)}</p>"
        f"<p>{escape(position)}</p><p class=small>{escape(when)}</p>"
    )
    pdf: bytes = weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/a-3b")
    return pdf


LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def _owner(signer: LetterSigner, backend: SignerBackend) -> str:
    """Whose revocation data a letter embeds: its signing certificate's, by fingerprint."""
    certificate = signer.signing_cert
    return certificate.sha256.hex() if certificate is not None else backend.subject


"""The PAdES baseline levels, weakest first."""


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
    ) -> SignedPdf:
        """Certify-sign a rendered letter with a visible signature and the verification QR.

        Requests to the timestamping authority and revocation services are bounded by
        ``signing.timeout_seconds`` and tried ``signing.retries`` more times; then the letter is
        refused with :class:`ServiceUnavailable` — never signed at a lower level than asked.

        A :class:`RemoteBackend` signs once (no retries here): transport failures are
        :class:`ServiceUnavailable`, a refusal :class:`~docgen.sign.remote.RemoteSigningRefused`,
        and a returned document that fails the checks :class:`SigningError`.
        """
        self.check_backend(backend)
        if isinstance(backend, RemoteBackend):
            return self._sign_remotely(pdf, backend, verification_url)
        if self.level == "B-B" and self._settings.signing.level == "auto" and not self._warned:
            self._warned = True  # once per process, and only when a letter is really signed
            log.warning(
                "No timestamping authority is configured (signing.timestamp_url): letters are "
                "signed at PAdES B-B and cannot be validated once the signer's certificate expires"
            )
        return self._services.with_retries(
            lambda: self._sign_once(pdf, backend, signatory, verification_url),
            f"Could not sign at {self.level}",
            "the letter was not issued",
        )

    def _sign_once(
        self,
        pdf: bytes,
        backend: SignerBackend,
        signatory: Signatory,
        verification_url: str,
    ) -> SignedPdf:
        signing = self._settings.signing
        now = datetime.now(self._zone)
        when = f"{tanggal(now.date())} pukul {now:%H.%M} {signing.zone_label}"
        position = " ".join(part for part in (signatory.acting, signatory.title) if part)
        signer = backend.signer.for_letter()  # certificates of its own: see docgen.sign.copies
        try:
            writer, spot = self._prepare(pdf, verification_url)
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
            appearance = _appearance(
                "Ditandatangani secara elektronik oleh", signatory.name, position, when
            )
            style = StaticStampStyle(
                background=_PdfBytes(appearance), border_width=0, background_opacity=1.0
            )
            pdf_signer = signers.PdfSigner(
                metadata,
                signer=signer,
                stamp_style=style,
                new_field_spec=field,
                timestamper=self._services.timestamper() if self.level != "B-B" else None,
            )
            out = pdf_signer.sign_pdf(writer)
        except PyhankoSigningError:
            raise  # a certificate or service problem: TrustServices tells which
        except (PdfError, ValueError, KeyError) as error:
            raise SigningError(f"Could not sign the letter: {error}") from error
        return SignedPdf(
            pdf=out.getvalue(), signer=backend.subject, signed_at=now, level=self.level
        )

    def _prepare(
        self, pdf: bytes, verification_url: str
    ) -> tuple[IncrementalPdfFileWriter, SignatureField]:
        """The letter with its QR code drawn, and where its signature goes."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        keep_xmp_metadata(writer)
        anchors = _anchors(writer)
        last = page_count(writer) - 1
        width, _ = page_size(writer, last)
        qr = anchors.get(QR_ANCHOR, _Anchor(last, 56.0, 40.0 + QR_SIZE))
        draw_on_page(
            writer, qr.page, _qr_operators(verification_url, qr.left, qr.top - QR_SIZE, QR_SIZE)
        )
        box_width, box_height = SIGNATURE_SIZE
        spot = anchors.get(SIGNATURE_ANCHOR, _Anchor(last, width - box_width - 56, 200.0))
        box = (
            int(spot.left),
            int(spot.top - box_height),
            int(spot.left + box_width),
            int(spot.top),
        )
        return writer, SignatureField(self._settings.signing.field_name, spot.page, box)

    def _sign_remotely(
        self, pdf: bytes, backend: RemoteBackend, verification_url: str
    ) -> SignedPdf:
        """Prepare the letter, have the service sign it, and accept it only if it checks out."""
        now = datetime.now(self._zone)
        try:
            writer, field = self._prepare(pdf, verification_url)
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
        return SignedPdf(pdf=signed, signer=accepted.signer, signed_at=when, level="B-B")
