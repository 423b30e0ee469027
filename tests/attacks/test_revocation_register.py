"""Checks that must fail closed: revocation (item 4) and the register (item 5).

A B-B letter carries no revocation data: its signer's status has to be fetched. When it is not
fetched (``--offline``) or cannot be fetched for the time asked (``--at``), the letter is
"could not be checked", never VALID, even when the signer is the demo PKI's revoked one. A
register that is configured but missing is "could not be checked" too, and verifying never
creates or changes a register.
"""

from __future__ import annotations

import io
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from certomancer.registry import ServiceLabel
from click.testing import CliRunner
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import PdfSignatureStatus

from docgen.cli import main
from docgen.config import Settings
from docgen.render import Renderer
from docgen.reports import Check, IssuedLetter, Verdict, VerificationReport
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki, load_architecture
from tests.attacks.conftest import PATHS, Letter, check, issue_signed_with, valid_with_structure
from tests.helpers import EXAMPLES

LATER = timedelta(days=1)
_BEFORE_REVOCATION = datetime(2025, 5, 31, 12, tzinfo=UTC)  # signer-revoked: 2025-06-01


@pytest.fixture(scope="module")
def revoked_letter(
    tmp_path_factory: pytest.TempPathFactory, renderer: Renderer, pki: DemoPki, pki_services: str
) -> tuple[Settings, IssuedLetter]:
    """A B-B letter signed by the demo PKI's revoked test signer, in a register of its own."""
    return issue_signed_with(
        tmp_path_factory.mktemp("revoked-signer"),
        renderer,
        pki,
        ("ILMATE", "signer-revoked"),
        EXAMPLES / f"{PATHS['html']}.json",
        # ILMATE's signing certificate, until it was revoked
        verification={"signers": {"ILMATE": [str(pki.certs["signer-revoked"])]}},
    )


def _not_checked(report: VerificationReport) -> None:
    assert report.verdict is Verdict.UNCHECKED, f"{report.verdict}: {report.checks}"
    revocation = check(report, "revocation")
    assert not revocation.passed
    assert revocation.detail.startswith("not checked"), revocation.detail


# --- item 4: revocation is hard-fail --------------------------------------------------------------


def test_a_revoked_signer_offline_is_unchecked_never_valid(
    revoked_letter: tuple[Settings, IssuedLetter],
) -> None:
    settings, letter = revoked_letter
    _not_checked(Verifier.from_settings(settings, online=False).verify_file(letter.path))


def test_a_revoked_signer_at_another_time_is_unchecked_never_valid(
    revoked_letter: tuple[Settings, IssuedLetter],
) -> None:
    settings, letter = revoked_letter
    at = datetime.now(UTC) + LATER
    _not_checked(Verifier.from_settings(settings, at=at).verify_file(letter.path))


def test_a_revoked_signer_online_is_invalid(revoked_letter: tuple[Settings, IssuedLetter]) -> None:
    settings, letter = revoked_letter
    report = Verifier.from_settings(settings).verify_file(letter.path)
    assert report.verdict is Verdict.INVALID, report.checks
    assert "revoked" in " ".join(report.reasons).lower()


def test_the_command_line_offline_exits_unchecked_for_a_revoked_signer(
    revoked_letter: tuple[Settings, IssuedLetter], tmp_path: Path
) -> None:
    settings, letter = revoked_letter
    config = tmp_path / "docgen.toml"
    signers = settings.verification.signers["ILMATE"]
    config.write_text(
        f'[letter_register]\npath = "{settings.letter_register.path}"\n'
        f'[verification.signers]\nILMATE = ["{signers[0]}"]\n'
    )
    result = CliRunner().invoke(
        main, ["--config", str(config), "verify", "--offline", str(letter.path)]
    )
    assert result.exit_code == 3, result.output
    assert "VALID" not in result.output.replace("INVALID", "")


def _with_answers_from_before_the_revocation(letter: IssuedLetter, pki: DemoPki) -> bytes:
    """The letter with a DSS appended (an allowed update) holding the CAs' CRLs of the day
    before its signer was revoked: public files anyone could have kept, still within their
    validity for a while after the revocation."""
    arch = load_architecture(pki.config, pki.key_dir)
    crls = [
        arch.service_registry.get_crl(ServiceLabel(repo), at_time=_BEFORE_REVOCATION)
        for repo in ("intermediate", "root")
    ]
    data = letter.path.read_bytes()
    signature = PdfFileReader(io.BytesIO(data)).embedded_regular_signatures[0]
    out = io.BytesIO(data)
    DocumentSecurityStore.add_dss(out, signature.pkcs7_content, crls=crls)
    return out.getvalue()


@pytest.mark.parametrize("use_register", [True, False], ids=["register", "no-register"])
def test_revocation_answers_appended_after_signing_never_vouch_for_a_revoked_signer(
    use_register: bool, revoked_letter: tuple[Settings, IssuedLetter], pki: DemoPki
) -> None:
    """Without a document timestamp over them, embedded answers prove nothing: the signer is
    checked online (revoked: invalid), and where it cannot be, the letter is unchecked."""
    settings, letter = revoked_letter
    forged = _with_answers_from_before_the_revocation(letter, pki)
    # as of a moment the old CRLs still cover, half a day after the revocation
    at = _BEFORE_REVOCATION + timedelta(days=1)
    then = Verifier.from_settings(settings, at=at, use_register=use_register)
    report = then.verify(forged, name="revoked-with-old-crls.pdf")
    _not_checked(report)
    assert check(report, "structure").passed  # the update itself is an allowed one
    now = Verifier.from_settings(settings, use_register=use_register).verify(forged)
    assert now.verdict is Verdict.INVALID, now.checks
    assert check(now, "revocation").detail == "the signer's certificate was revoked"
    assert now.level == "B-B"


def _status_without_revocation(verifier: Verifier, data: bytes) -> PdfSignatureStatus:
    """The letter's signature validated for its chain only, as the B-LTA path validates it."""
    reader = PdfFileReader(io.BytesIO(data))
    return validate_pdf_signature(
        reader.embedded_regular_signatures[0],
        signer_validation_context=verifier._without_revocation(),
        skip_diff=True,
    )


def test_a_b_lta_letters_signer_is_asked_of_its_ca_now_too(
    revoked_letter: tuple[Settings, IssuedLetter], letters: dict[str, Letter]
) -> None:
    """Online, the CA's present answer is read for a B-LTA letter: when was the key revoked."""
    settings, letter = revoked_letter
    online = Verifier.from_settings(settings)
    status = _status_without_revocation(online, letter.path.read_bytes())
    assert online._revoked_now(status) == datetime(2025, 6, 1, tzinfo=UTC)
    genuine = letters["B-LTA-html"]
    assert online._revoked_now(_status_without_revocation(online, genuine.data)) is None
    offline = Verifier.from_settings(settings, online=False)
    assert offline._revoked_now(status) is None  # nothing is asked offline


@pytest.mark.parametrize(
    ("revoked", "proven", "valid"),
    [
        (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 1, 12, tzinfo=UTC), False),
        (datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC), False),
        (datetime(2025, 6, 1, tzinfo=UTC), None, False),
        (datetime(2025, 6, 2, tzinfo=UTC), datetime(2025, 6, 1, tzinfo=UTC), True),
        (None, datetime(2025, 6, 1, tzinfo=UTC), True),
    ],
)
def test_a_b_lta_letter_stamped_after_its_keys_revocation_is_invalid(
    revoked: datetime | None, proven: datetime | None, valid: bool, letters: dict[str, Letter]
) -> None:
    """Answers kept from before a revocation can vouch for a forgery stamped soon after it;
    the CA's revocation time against the earliest time the timestamps prove decides."""
    genuine = letters["B-LTA-html"]
    verifier = Verifier.from_settings(genuine.settings)
    status = _status_without_revocation(verifier, genuine.data)
    trusted = [Check(name="trust", passed=True, detail="long-term validation passed")]
    facts: dict[str, object] = {}
    result = verifier._revocation(status, True, None, trusted, facts, (revoked, proven))
    assert result.passed is valid, result
    if not valid:
        assert result.detail.startswith("the signer's certificate was revoked on 2025-06-01")
        assert facts["revocation"] == "revoked"
    elif revoked is not None:
        assert "revoked later" in result.detail


def test_a_genuine_b_b_letter_offline_is_unchecked_too(letters: dict[str, Letter]) -> None:
    letter = letters["B-B-html"]
    offline = Verifier.from_settings(letter.settings, online=False)
    _not_checked(offline.verify(letter.data, name="b-b-offline.pdf"))


@pytest.mark.parametrize("path", sorted(PATHS))
def test_controls_revocation_a_genuine_letter_verifies_where_revocation_is_known(
    path: str, letters: dict[str, Letter]
) -> None:
    b_b = letters[f"B-B-{path}"]
    valid_with_structure(b_b.verifier.verify(b_b.data, name="b-b-online.pdf"))
    b_lta = letters[f"B-LTA-{path}"]  # its validation data is embedded: no fetching needed
    offline = Verifier.from_settings(b_lta.settings, online=False)
    valid_with_structure(offline.verify(b_lta.data, name="b-lta-offline.pdf"))


def test_controls_revocation_a_b_lta_letter_verifies_as_of_a_later_day(
    letters: dict[str, Letter],
) -> None:
    # the HTML letter is the first its issuer signed: its document security store holds only
    # its own signer's revocation data. (A later letter of the same issuer also carries the
    # earlier signers' OCSP responses; once those are past their nextUpdate, long-term
    # validation of such a letter can fail: a known false rejection, not an attack.)
    b_lta = letters["B-LTA-html"]
    later = Verifier.from_settings(b_lta.settings, at=datetime.now(UTC) + LATER)
    valid_with_structure(later.verify(b_lta.data, name="b-lta-later.pdf"))


# --- item 5: the register fails closed and is never written ---------------------------------------


def test_a_missing_register_is_unchecked_and_not_created(
    letters: dict[str, Letter], tmp_path: Path
) -> None:
    letter = letters["B-B-html"]
    missing = tmp_path / "register.sqlite3"
    settings = Settings.load(letter_register={"path": str(missing)})
    report = Verifier.from_settings(settings).verify(letter.data, name="letter.pdf")
    assert report.verdict is Verdict.UNCHECKED, report.checks
    register = check(report, "register")
    assert not register.passed
    assert "does not exist" in register.detail
    assert list(tmp_path.iterdir()) == [], "verification created files where the register was"


def test_verifying_never_changes_an_existing_register(
    letters: dict[str, Letter], tmp_path: Path
) -> None:
    letter = letters["B-LTA-html"]
    copy = tmp_path / "register.sqlite3"
    with (
        sqlite3.connect(letter.settings.letter_register.path) as source,
        sqlite3.connect(copy) as target,
    ):
        source.backup(target)
    source.close()
    target.close()
    before = copy.read_bytes()
    old = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    os.utime(copy, (old, old))
    settings = Settings.load(letter_register={"path": str(copy)})
    verifier = Verifier.from_settings(settings)
    valid_with_structure(verifier.verify(letter.data, name="letter.pdf"))
    assert copy.read_bytes() == before
    assert copy.stat().st_mtime == old
