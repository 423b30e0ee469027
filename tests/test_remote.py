"""Remote signing: a stand-in for the national CA's service signs; docgen checks what it returns.

:class:`FakeBsre` plays the remote side without any network: it holds the demo ILMATE key, a
registry of NIKs and passphrases, refuses a wrong one as the real service's error would be
mapped, and otherwise signs the uploaded PDF in the field docgen asked for.
"""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers import SimpleSigner

from docgen._pdf import draw_on_page
from docgen.config import Settings
from docgen.errors import ConfigError, ServiceUnavailable, SigningError
from docgen.pipeline import Issuer
from docgen.register import LetterStatus, Register
from docgen.render import Renderer
from docgen.reports import IssueOutcome
from docgen.sign import (
    RemoteBackend,
    RemoteSigningRefused,
    RemoteSigningService,
    SignatureField,
)
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki, passphrase_for
from tests.helpers import EXAMPLES, load_request

HTML_EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"
NIK = "3174015708800002"
PASSPHRASE = "Rahasia-BSrE-2024"


class FakeBsre:
    """The remote signing service, in-process: the key never leaves it."""

    def __init__(self, pki: DemoPki, accounts: dict[str, str]):
        p12 = pki.p12["signer-ilmate"]
        signer = SimpleSigner.load_pkcs12(p12, passphrase=passphrase_for(p12.parent))
        assert signer is not None
        self.signer: SimpleSigner = signer
        self.accounts = dict(accounts)
        self.calls: list[SignatureField] = []

    def sign_pdf(self, pdf: bytes, *, nik: str, passphrase: str, field: SignatureField) -> bytes:
        self.calls.append(field)
        if self.accounts.get(nik) != passphrase:
            # the real API answers 401 with {"error": "Passphrase anda salah"}; a client maps it
            raise RemoteSigningRefused("The signing service refused the NIK or the passphrase")
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        self.before_signing(writer)
        metadata = signers.PdfSignatureMetadata(
            field_name=field.name,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            certify=True,
            docmdp_permissions=fields.MDPPerm.NO_CHANGES,
        )
        spec = fields.SigFieldSpec(field.name, on_page=field.page, box=field.box)
        out = signers.PdfSigner(metadata, signer=self.signer, new_field_spec=spec).sign_pdf(writer)
        return bytes(out.getvalue())

    def before_signing(self, writer: IncrementalPdfFileWriter) -> None:
        """What the service does to the document besides signing it: nothing."""


class EchoService:
    """Misbehaves: returns the document unchanged, as if signed."""

    def sign_pdf(self, pdf: bytes, *, nik: str, passphrase: str, field: SignatureField) -> bytes:
        return pdf


class OtherDocumentService(FakeBsre):
    """Misbehaves: signs some other document and returns that."""

    def __init__(self, pki: DemoPki, accounts: dict[str, str], other: bytes):
        super().__init__(pki, accounts)
        self.other = other

    def sign_pdf(self, pdf: bytes, *, nik: str, passphrase: str, field: SignatureField) -> bytes:
        # on its first page: the other document may be shorter than the one sent
        first = SignatureField(field.name, 0, field.box)
        return super().sign_pdf(self.other, nik=nik, passphrase=passphrase, field=first)


class WrongFieldService(FakeBsre):
    """Misbehaves: signs in a field of its own naming."""

    def sign_pdf(self, pdf: bytes, *, nik: str, passphrase: str, field: SignatureField) -> bytes:
        other = SignatureField("Signature1", field.page, field.box)
        return super().sign_pdf(pdf, nik=nik, passphrase=passphrase, field=other)


class TamperingService(FakeBsre):
    """Misbehaves: changes signed bytes after signing (a digit of the widget's rectangle)."""

    def sign_pdf(self, pdf: bytes, *, nik: str, passphrase: str, field: SignatureField) -> bytes:
        signed = bytearray(super().sign_pdf(pdf, nik=nik, passphrase=passphrase, field=field))
        position = signed.index(b"/Rect [ ", len(pdf)) + len(b"/Rect [ ")
        signed[position] = ord("1") if signed[position] != ord("1") else ord("2")
        return bytes(signed)


class OverwritingService(FakeBsre):
    """Misbehaves: blacks out part of the letter in the update that adds its signature."""

    def before_signing(self, writer: IncrementalPdfFileWriter) -> None:
        draw_on_page(writer, 0, b"0 g 56 500 300 120 re f")


class DownService:
    """The service cannot be reached."""

    def sign_pdf(self, pdf: bytes, *, nik: str, passphrase: str, field: SignatureField) -> bytes:
        raise ConnectionError(f"connection refused while sending nik={nik}&pass={passphrase}")


@pytest.fixture
def remote_settings(tmp_path: Path, pki: DemoPki) -> Settings:
    """B-B settings with a private register and output folder."""
    Register.create(tmp_path / "register.sqlite3").close()
    return Settings.load(
        signing={"level": "B-B"},
        letter_register={"path": str(tmp_path / "register.sqlite3")},
        output=str(tmp_path / "letters"),
    )


@pytest.fixture
def bsre(pki: DemoPki) -> FakeBsre:
    return FakeBsre(pki, {NIK: PASSPHRASE})


@pytest.fixture
def issuer_with() -> Iterator[list[Issuer]]:
    """The issuers a test builds, closed afterwards."""
    made: list[Issuer] = []
    yield made
    for issuer in made:
        issuer.close()


def _issuer(
    made: list[Issuer], settings: Settings, renderer: Renderer, service: RemoteSigningService
) -> Issuer:
    issuer = Issuer(
        settings,
        renderer=renderer,
        signers={"ILMATE": RemoteBackend(nik=NIK, passphrase=lambda: PASSPHRASE, service=service)},
    )
    made.append(issuer)
    return issuer


def test_the_fake_implements_the_protocol(bsre: FakeBsre) -> None:
    assert isinstance(bsre, RemoteSigningService)


def test_a_remotely_signed_letter_issues_and_verifies(
    remote_settings: Settings, renderer: Renderer, bsre: FakeBsre, issuer_with: list[Issuer]
) -> None:
    issuer = _issuer(issuer_with, remote_settings, renderer, bsre)
    letter = issuer.issue(load_request(HTML_EXAMPLE))
    assert letter.outcome is IssueOutcome.ISSUED
    assert len(bsre.calls) == 1 and bsre.calls[0].name == remote_settings.signing.field_name
    report = Verifier.from_settings(remote_settings).verify_file(letter.path)
    assert report.ok, report.reasons
    assert report.level == "B-B"
    assert report.signer == letter.signer
    output = subprocess.run(
        ["pdfsig", str(letter.path)], capture_output=True, text=True, check=False
    ).stdout
    assert "Signature is Valid" in output
    assert "Total document signed" in output


def test_the_expected_signer_is_enforced(
    remote_settings: Settings, renderer: Renderer, bsre: FakeBsre
) -> None:
    backend = RemoteBackend(nik=NIK, passphrase=PASSPHRASE, service=bsre, subject="Someone Else")
    with Issuer(remote_settings, renderer=renderer, signers={"ILMATE": backend}) as issuer:
        with pytest.raises(SigningError, match="returned a document that is signed by"):
            issuer.issue(load_request(HTML_EXAMPLE))
        (record,) = issuer.register.records()
        assert record.status is LetterStatus.VOID
    assert not list(remote_settings.output.rglob("*.pdf*"))


def test_a_wrong_passphrase_is_refused_and_voids_the_number(
    remote_settings: Settings, renderer: Renderer, bsre: FakeBsre
) -> None:
    wrong = "salah-Sandi-0815"
    backend = RemoteBackend(nik=NIK, passphrase=wrong, service=bsre)
    with Issuer(remote_settings, renderer=renderer, signers={"ILMATE": backend}) as issuer:
        with pytest.raises(RemoteSigningRefused) as raised:
            issuer.issue(load_request(HTML_EXAMPLE))
        assert isinstance(raised.value, SigningError)
        assert wrong not in str(raised.value) and PASSPHRASE not in str(raised.value)
        (record,) = issuer.register.records()
        assert record.status is LetterStatus.VOID
        assert record.reason is not None and wrong not in record.reason
    assert not list(remote_settings.output.rglob("*.pdf*")), "no letter and no temporary file"


@pytest.mark.parametrize(
    ("misbehaving", "problem"),
    [
        ("echo", "is not signed"),
        ("other", "is not the document sent"),
        ("field", "is signed in field 'Signature1'"),
        ("tamper", "has a broken signature"),
        ("overwrite", "changes more than adding the signature"),
    ],
)
def test_a_misbehaving_service_never_produces_a_letter(
    misbehaving: str,
    problem: str,
    remote_settings: Settings,
    renderer: Renderer,
    pki: DemoPki,
    issuer_with: list[Issuer],
) -> None:
    accounts = {NIK: PASSPHRASE}
    other = renderer.render_draft(load_request(EXAMPLES / "ilmate-pertek-btb-approved.json")).pdf
    services: dict[str, RemoteSigningService] = {
        "echo": EchoService(),
        "other": OtherDocumentService(pki, accounts, other),
        "field": WrongFieldService(pki, accounts),
        "tamper": TamperingService(pki, accounts),
        "overwrite": OverwritingService(pki, accounts),
    }
    service = services[misbehaving]
    issuer = _issuer(issuer_with, remote_settings, renderer, service)
    with pytest.raises(
        SigningError, match="the signing service returned a document that"
    ) as raised:
        issuer.issue(load_request(HTML_EXAMPLE))
    assert problem in str(raised.value), str(raised.value)
    (record,) = issuer.register.records()
    assert record.status is LetterStatus.VOID
    assert not list(remote_settings.output.rglob("*.pdf*"))


def test_an_unreachable_service_is_retryable_and_never_shows_the_passphrase(
    remote_settings: Settings, renderer: Renderer, issuer_with: list[Issuer]
) -> None:
    issuer = _issuer(issuer_with, remote_settings, renderer, DownService())
    with pytest.raises(ServiceUnavailable) as raised:
        issuer.issue(load_request(HTML_EXAMPLE))
    assert raised.value.retryable
    assert "ConnectionError" in str(raised.value)
    assert PASSPHRASE not in str(raised.value)
    (record,) = issuer.register.records()
    assert record.status is LetterStatus.VOID
    assert record.reason is not None and PASSPHRASE not in record.reason
    assert not list(remote_settings.output.rglob("*.pdf*"))


def test_a_nik_must_be_16_digits(bsre: FakeBsre) -> None:
    for nik in ("317401570880000", "31740157088000021", "3174O15708800002", ""):
        with pytest.raises(SigningError, match="16 digits"):
            RemoteBackend(nik=nik, passphrase=PASSPHRASE, service=bsre)


def test_the_passphrase_never_appears_in_the_repr(bsre: FakeBsre) -> None:
    backend = RemoteBackend(nik=NIK, passphrase=PASSPHRASE, service=bsre)
    assert PASSPHRASE not in repr(backend)
    assert NIK not in repr(backend)
    assert PASSPHRASE not in str(backend)


def test_a_level_above_b_b_with_a_remote_backend_is_a_config_error(
    tmp_path: Path, renderer: Renderer, bsre: FakeBsre
) -> None:
    settings = Settings.load(
        signing={"level": "B-T", "timestamp_url": "http://127.0.0.1:9/tsa"},
        letter_register={"path": str(tmp_path / "register.sqlite3")},
        output=str(tmp_path / "letters"),
    )
    backend = RemoteBackend(nik=NIK, passphrase=PASSPHRASE, service=bsre)
    with pytest.raises(ConfigError, match="B-T cannot be reached with the remote signing"):
        Issuer(settings, renderer=renderer, signers={"ILMATE": backend})
    assert not bsre.calls
