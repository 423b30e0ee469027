"""Keys on a PKCS#11 token: a SoftHSM2 token made for the run holds the ILMATE signer's key."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from pkcs11 import Attribute, CertificateType, ObjectClass

from docgen.config import KeySettings, Settings
from docgen.errors import ConfigError, SigningError
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from docgen.reports import IssueOutcome
from docgen.sign import open_backend
from docgen.sign.pkcs11 import close_sessions
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLES, load_request

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "docgen-test"
KEY = "signer-ilmate"
PIN = "4711-docgen"
PIN_ENV = "DOCGEN_TEST_PIN"


def test_softhsm2_is_installed() -> None:
    # scripts/setup.sh installs Debian's softhsm2; without it the token tests cannot run
    assert Path(MODULE).is_file() and shutil.which("softhsm2-util") is not None


@dataclass(frozen=True)
class Token:
    """The test token and the demo PKI its key comes from."""

    pki: DemoPki


def _certificate_der(path: Path) -> bytes:
    _, _, der = pem.unarmor(path.read_bytes())
    return bytes(der)


def _store_certificate(session: pkcs11.Session, path: Path, label: str, key_id: bytes) -> None:
    der = _certificate_der(path)
    certificate = asn1_x509.Certificate.load(der)
    session.create_object(
        {
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.LABEL: label,
            Attribute.ID: key_id,
            Attribute.SUBJECT: certificate.subject.dump(),
            Attribute.ISSUER: certificate.issuer.dump(),
            Attribute.SERIAL_NUMBER: certificate["tbs_certificate"]["serial_number"].dump(),
            Attribute.VALUE: der,
        }
    )


@pytest.fixture(scope="session")
def token(tmp_path_factory: pytest.TempPathFactory, pki: DemoPki) -> Iterator[Token]:
    """A SoftHSM2 token with the ILMATE key, its certificate and the intermediate CA's.

    SOFTHSM2_CONF is set before the PKCS#11 library is first loaded, since SoftHSM reads it
    only then; it stays set for the run.
    """
    work = tmp_path_factory.mktemp("softhsm")
    (work / "tokens").mkdir()
    conf = work / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {work / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOFTHSM2_CONF", str(conf))
        util = ["softhsm2-util"]
        subprocess.run(
            [
                *util,
                "--init-token",
                "--free",
                "--label",
                TOKEN,
                "--so-pin",
                "so-4711",
                "--pin",
                PIN,
            ],
            check=True,
            capture_output=True,
            env=os.environ,
        )
        # the demo PKI writes its keys as unencrypted PKCS#8 PEM, which softhsm2-util imports
        subprocess.run(
            [
                *util,
                "--import",
                str(pki.key_dir / f"{KEY}.key.pem"),
                "--token",
                TOKEN,
                "--label",
                KEY,
                "--id",
                "01",
                "--pin",
                PIN,
            ],
            check=True,
            capture_output=True,
            env=os.environ,
        )
        session = pkcs11.lib(MODULE).get_token(token_label=TOKEN).open(rw=True, user_pin=PIN)
        try:
            _store_certificate(session, pki.certs[KEY], KEY, b"\x01")
            _store_certificate(session, pki.intermediate_cert, "intermediate", b"\x02")
        finally:
            session.close()
        yield Token(pki)


@pytest.fixture(autouse=True)
def fresh_sessions(token: Token, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test logs in itself: no session is left from another test."""
    monkeypatch.setenv(PIN_ENV, PIN)
    close_sessions()
    yield
    close_sessions()


def _token_key(**changes: object) -> dict[str, object]:
    key: dict[str, object] = {
        "pkcs11_module": MODULE,
        "token_label": TOKEN,
        "key_label": KEY,
        "passphrase_env": PIN_ENV,
        "passphrase_file": None,
    }
    key.update(changes)
    return key


def test_a_letter_signed_on_the_token_issues_and_verifies(
    tmp_path: Path, renderer: Renderer
) -> None:
    Register.create(tmp_path / "register.sqlite3").close()
    settings = Settings.load(
        signing={"keys": {"ILMATE": _token_key()}},
        letter_register={"path": str(tmp_path / "register.sqlite3")},
        output=str(tmp_path / "letters"),
    )
    with Issuer(settings, renderer=renderer) as issuer:
        letter = issuer.issue(load_request(EXAMPLES / "ilmate-pertek-baja-approved.json"))
    assert letter.outcome is IssueOutcome.ISSUED
    report = Verifier.from_settings(settings).verify_file(letter.path)
    assert report.ok, report.reasons
    if shutil.which("pdfsig"):
        output = subprocess.run(
            ["pdfsig", str(letter.path)], capture_output=True, text=True, check=False
        ).stdout
        assert "Signature is Valid" in output


def test_a_token_key_with_its_certificate_in_a_file_signs(token: Token) -> None:
    pki = token.pki
    key = KeySettings.model_validate(
        _token_key(certificate=pki.certs[KEY], chain=[pki.intermediate_cert])
    )
    backend = open_backend(key)
    assert backend.kind == "pkcs11"
    assert backend.subject
    signature = asyncio.run(backend.signer.async_sign_raw(b"surat", "sha256"))
    public = x509.load_pem_x509_certificate(pki.certs[KEY].read_bytes()).public_key()
    assert isinstance(public, RSAPublicKey)
    public.verify(signature, b"surat", PKCS1v15(), hashes.SHA256())  # raises when wrong


def test_a_wrong_pin_is_a_clear_error_that_never_shows_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = "salah-PIN-0042"
    monkeypatch.setenv(PIN_ENV, wrong)
    with pytest.raises(SigningError, match="wrong PIN") as raised:
        open_backend(KeySettings.model_validate(_token_key()))
    assert wrong not in str(raised.value) and PIN not in str(raised.value)
    assert TOKEN in str(raised.value)


def test_a_wrong_pin_from_the_prompt_is_refused_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PIN_ENV)
    asked: list[str] = []

    def prompt(what: str) -> str:
        asked.append(what)
        return "0000"

    with pytest.raises(SigningError, match="wrong PIN"):
        open_backend(KeySettings.model_validate(_token_key()), prompt)
    assert asked and TOKEN in asked[0]


def test_an_unknown_token_label_is_named() -> None:
    with pytest.raises(SigningError, match="'no-such-token'") as raised:
        open_backend(KeySettings.model_validate(_token_key(token_label="no-such-token")))
    assert TOKEN in str(raised.value), "the tokens present are listed"


def test_an_unknown_key_label_is_named() -> None:
    with pytest.raises(SigningError, match="No private key labelled 'signer-agro'"):
        open_backend(KeySettings.model_validate(_token_key(key_label="signer-agro")))


def test_a_missing_module_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "libnothing.so"
    with pytest.raises(SigningError, match="was not found") as raised:
        open_backend(KeySettings.model_validate(_token_key(pkcs11_module=missing)))
    assert str(missing) in str(raised.value)


def test_a_key_has_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        Settings.load(signing={"keys": {"ILMATE": _token_key(pkcs12="signer.p12")}})
    with pytest.raises(ConfigError, match="token_label and key_label"):
        Settings.load(signing={"keys": {"ILMATE": _token_key(key_label=None)}})
    with pytest.raises(ConfigError, match="need pkcs11_module"):
        Settings.load(signing={"keys": {"ILMATE": {"pkcs12": "signer.p12", "key_label": KEY}}})
