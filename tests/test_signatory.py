"""The printed signatory must be the signing key's holder, or an official allowed to use the key."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docgen.config import Official, Settings
from docgen.errors import ConfigError, RequestInvalid
from docgen.models import LetterRequest
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from docgen.reports import IssueOutcome
from docgen.sign import LocalKeySigner, SignerBackend
from docgen.sign.holders import KeyHolders, certificate_nip, fold_name
from tests.helpers import EXAMPLES, pdf_text

EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"  # Dr. Ir. Agus Pramono Hadi, M.Sc.
AGUS_NIP = "196903041995031001"


def _request(request_id: str, **signatory: Any) -> LetterRequest:
    data = json.loads(EXAMPLE.read_text("utf-8"))
    data["request_id"] = request_id
    data["signatory"] = {**data["signatory"], **signatory}
    return LetterRequest.from_mapping(data)


@pytest.mark.parametrize(
    ("printed", "certified"),
    [
        ("Dr. Ir. Agus Pramono Hadi, M.Sc.", "AGUS PRAMONO HADI"),
        ("Prof. Dr. (H.C.) Ir. Agus Pramono Hadi, M.Sc., Ph.D.", "Agus Pramono Hadi, S.T."),
        ("Hj. Siti Nurhaliza", "SITI NURHALIZA"),
        ("Drs.  Ahmad Fauzi", "ahmad fauzi"),
        ("Dra. Sri Rahayu-Widyaningsih", "Sri Rahayu Widyaningsih"),
        ("Ir. Dédi Ñoval", "DEDI NOVAL"),
    ],
)
def test_names_fold_alike_without_titles_degrees_case_and_accents(
    printed: str, certified: str
) -> None:
    assert fold_name(printed) == fold_name(certified)


@pytest.mark.parametrize(
    ("printed", "certified"),
    [
        ("Agus Pramono Hadi", "Agus Pramono"),
        ("M. Yusuf", "A. Yusuf"),  # initials are part of the name, not titles
        ("Budi Santoso", "Budi Santosa"),
        ("Dr.", "Ir."),  # a title alone is kept: it is all there is
    ],
)
def test_different_names_stay_different(printed: str, certified: str) -> None:
    assert fold_name(printed) != fold_name(certified)


def _person_certificate(name: str, serial: str | None) -> tuple[ec.EllipticCurvePrivateKey, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, name)]
    if serial is not None:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    subject = x509.Name(attributes)
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    der = certificate.public_bytes(serialization.Encoding.DER)
    return key, asn1_x509.Certificate.load(der)


@pytest.mark.parametrize(
    ("serial", "nip"),
    [
        (f"NIP:{AGUS_NIP}", AGUS_NIP),
        (f"PNS{AGUS_NIP}", AGUS_NIP),
        ("3171012345678901", None),  # a NIK (16 digits) is not a NIP
        (f"{AGUS_NIP}-{AGUS_NIP[::-1]}", None),  # two candidates: say nothing
        (None, None),
    ],
)
def test_the_nip_is_read_from_the_certificate_serial_number(
    serial: str | None, nip: str | None
) -> None:
    assert certificate_nip(_person_certificate("Agus Pramono Hadi", serial)[1]) == nip


def test_the_holder_must_print_the_nip_the_certificate_carries() -> None:
    holders = KeyHolders.of("ILMATE", "AGUS PRAMONO HADI", AGUS_NIP)
    holders.check(_request("SIG-HOLDER-1").signatory)  # any capacity: Plt. too
    holders.check(_request("SIG-HOLDER-2", acting="Plt.").signatory)
    with pytest.raises(RequestInvalid) as raised:
        holders.check(_request("SIG-HOLDER-3", nip="196903041995031002").signatory)
    assert raised.value.problems[0].field == "Signing official's NIP"


def test_a_listed_official_signs_only_in_the_capacity_listed() -> None:
    plh = Official(name="Ir. Dewi Anggraini Kartika", nip="197208271998032002", acting="Plh.")
    holders = KeyHolders.of("ILMATE", "DEMO Direktur Jenderal ILMATE", None, (plh,))
    dewi = {"name": "Ir. Dewi Anggraini Kartika, M.B.A.", "nip": plh.nip}
    holders.check(_request("SIG-ACT-1", **dewi, acting="Plh.").signatory)
    for acting in (None, "Plt."):
        with pytest.raises(RequestInvalid) as raised:
            holders.check(_request("SIG-ACT-2", **dewi, acting=acting).signatory)
        (problem,) = raised.value.problems
        assert problem.field == "Acting official"
        assert "only as Plh." in problem.message


@pytest.fixture
def register_path(tmp_path: Path) -> Path:
    path = tmp_path / "register.sqlite3"
    Register.create(path).close()
    return path


@pytest.fixture
def demo_issuer(tmp_path: Path, register_path: Path, renderer: Renderer) -> Iterator[Issuer]:
    """An issuer with the demo keys (whose certificates name positions) and officials."""
    settings = Settings.load(
        letter_register={"path": str(register_path)}, output=str(tmp_path / "letters")
    )
    with Issuer(settings, renderer=renderer) as issuer:
        yield issuer


@pytest.mark.parametrize(
    ("signatory", "field", "words"),
    [
        (
            {"name": "Ir. Budi Santoso, M.T."},
            "Signing official's name",
            "may not sign with the signing key of ILMATE: its certificate names DEMO Direktur "
            "Jenderal ILMATE, and signing.officials allows only: Dr. Ir. Agus Pramono Hadi, "
            "M.Sc.; Ir. Dewi Anggraini Kartika, M.B.A.",
        ),
        ({"nip": "196903041995031002"}, "Signing official's NIP", "is not the NIP of"),
        (
            {"name": "Ir. Dewi Anggraini Kartika, M.B.A.", "nip": "197208271998032002"},
            "Acting official",
            "only as Plh., but the letter prints no Plt./Plh. mark",
        ),
    ],
)
def test_a_signatory_the_key_is_not_for_is_refused_before_a_number_is_taken(
    demo_issuer: Issuer, signatory: dict[str, str], field: str, words: str
) -> None:
    with pytest.raises(RequestInvalid) as raised:
        demo_issuer.issue(_request("SIG-REFUSED", **signatory), source="request.json")
    (problem,) = raised.value.problems
    assert problem.field == field
    assert words in problem.message
    assert "request.json" in str(raised.value)
    assert demo_issuer.register.records() == [], "no number was taken"
    assert not any(demo_issuer.register.counters().values())


def test_the_holder_a_certificate_names_may_sign_without_being_listed(
    tmp_path: Path, register_path: Path, renderer: Renderer
) -> None:
    key, certificate = _person_certificate("AGUS PRAMONO HADI", f"NIP:{AGUS_NIP}")
    backend = SignerBackend(LocalKeySigner(key, certificate, []), "AGUS PRAMONO HADI", "pem")
    settings = Settings.load(
        letter_register={"path": str(register_path)},
        output=str(tmp_path / "letters"),
        signing={"officials": {"ILMATE": []}},  # the holder alone
    )
    with Issuer(settings, renderer=renderer, signers={"ILMATE": backend}) as issuer:
        letter = issuer.issue(_request("SIG-HOLDER-OK"))
        assert "Agus Pramono Hadi" in pdf_text(letter.path.read_bytes(), tmp_path)
        with pytest.raises(
            RequestInvalid, match=r"names AGUS PRAMONO HADI, and signing\.officials lists no"
        ):
            issuer.issue(_request("SIG-HOLDER-NO", name="Ir. Budi Santoso, M.T."))


@pytest.mark.parametrize(
    ("officials", "words"),
    [
        ({"ILMAT": []}, "signing.officials names unknown Directorates General ['ILMAT']"),
        (
            {"ILMATE": [{"name": "Budi", "nip": "196913041995031001"}]},
            "signing.officials.ILMATE.0.nip: the first 8 digits must be the official's birth",
        ),
        (
            {"ILMATE": [{"name": "Budi", "nip": AGUS_NIP, "acting": "Pj."}]},
            "signing.officials.ILMATE.0.acting",
        ),
    ],
)
def test_a_misspelt_official_is_a_clear_settings_error(
    officials: dict[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.load(signing={"officials": officials})
    assert words in str(raised.value)


def test_a_letter_issued_while_its_signatory_was_allowed_is_still_returned(
    tmp_path: Path, register_path: Path, renderer: Renderer
) -> None:
    paths: dict[str, Any] = {
        "letter_register": {"path": str(register_path)},
        "output": str(tmp_path / "out"),
    }
    with Issuer(Settings.load(**paths), renderer=renderer) as before:
        issued = before.issue(_request("SIG-STANDS"))
    # the official leaves: nobody is listed for the key any more
    later = Settings.load(**paths, signing={"officials": {"ILMATE": []}})
    with Issuer(later, renderer=renderer) as after:
        again = after.issue(_request("SIG-STANDS"))
        assert again.outcome is IssueOutcome.ALREADY_ISSUED
        assert again.letter_number == issued.letter_number
        with pytest.raises(RequestInvalid, match="lists no other official"):
            after.issue(_request("SIG-NEW"))
        assert len(after.register.records()) == 1, "no number taken for the refused one"
