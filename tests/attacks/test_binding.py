"""What ties a letter to the ministry, and whether it is still in force.

A trust root vouches for everyone it certified, not only the ministry's Directorates General: a
letter signed with another Directorate General's key (or any other certificate under the root)
chains to the root as well as a genuine one. Without the register, only the ministry's own
signing certificates (``verification.signers``), each bound to its Directorate General, tell
them apart; with neither, no letter is valid. A letter past its *berlaku sampai dengan* day is
genuine but no longer in force: it is not valid either.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from docgen.cli import main
from docgen.config import HOME_ENV, Settings
from docgen.render import Renderer
from docgen.render.pdf import read_request
from docgen.reports import Verdict
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki
from tests.attacks.conftest import Letter, check, issue_signed_with
from tests.helpers import EXAMPLES

IKFT_EXAMPLE = EXAMPLES / "ikft-pertek-ban-approved.json"


@pytest.fixture(scope="module")
def signed_by_another_dg(
    tmp_path_factory: pytest.TempPathFactory, renderer: Renderer, pki: DemoPki
) -> tuple[Settings, bytes]:
    """An IKFT letter signed with AGRO's key, by an issuer whose IKFT slot holds that key."""
    work = tmp_path_factory.mktemp("another-dg")
    settings, letter = issue_signed_with(work, renderer, pki, ("IKFT", "signer-agro"), IKFT_EXAMPLE)
    return settings, letter.path.read_bytes()


def _without_signers(settings: Settings) -> Settings:
    data = settings.model_dump()
    data["verification"]["signers"] = {}
    return Settings.model_validate(data)


@pytest.mark.parametrize("use_register", [True, False], ids=["its-register", "no-register"])
def test_a_letter_signed_with_another_directorates_key_is_invalid(
    use_register: bool, signed_by_another_dg: tuple[Settings, bytes]
) -> None:
    settings, data = signed_by_another_dg
    report = Verifier.from_settings(settings, use_register=use_register).verify(data)
    assert report.verdict is Verdict.INVALID, report.checks
    signer = check(report, "signer")
    assert not signer.passed
    assert "not one of IKFT's signing certificates" in signer.detail
    assert "Industri Agro" in signer.detail
    assert check(report, "trust").passed  # the root vouches for it: the root is not enough


def test_without_register_or_signing_certificates_no_letter_is_valid(
    signed_by_another_dg: tuple[Settings, bytes], letters: dict[str, Letter]
) -> None:
    settings, forged = signed_by_another_dg
    bare = Verifier.from_settings(_without_signers(settings), use_register=False)
    genuine = letters["B-B-docx"]
    for data in (forged, genuine.data):
        report = bare.verify(data)
        assert report.verdict is Verdict.UNCHECKED, report.checks
        signer = check(report, "signer")
        assert not signer.checked and signer.detail.startswith("not checked")
    # with its register, the genuine letter is tied to the ministry without certificates
    registered = Verifier.from_settings(_without_signers(genuine.settings))
    report = registered.verify(genuine.data)
    assert report.verdict is Verdict.VALID, report.checks
    assert not [c for c in report.checks if c.name == "signer"]


@pytest.mark.parametrize("key", ["B-B-html", "B-LTA-docx"])
def test_controls_a_genuine_letter_is_signed_with_its_own_directorates_certificate(
    key: str, letters: dict[str, Letter]
) -> None:
    letter = letters[key]
    report = Verifier.from_settings(letter.settings, use_register=False).verify(letter.data)
    assert report.verdict is Verdict.VALID, report.checks
    assert check(report, "signer").detail.startswith("signed with one of ")


def test_the_command_line_takes_signing_certificates(
    signed_by_another_dg: tuple[Settings, bytes],
    pki: DemoPki,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, forged = signed_by_another_dg
    monkeypatch.setenv(HOME_ENV, str(tmp_path / "home"))  # no settings of this test run
    path = tmp_path / "forged.pdf"
    path.write_bytes(forged)
    config = tmp_path / "recipient.toml"  # a recipient's settings: a trust root, nothing else
    config.write_text(f'[verification]\ntrust = ["{pki.root_cert}"]\n')
    base = ["--config", str(config), "verify", "--no-register", str(path)]
    unbound = CliRunner().invoke(main, base)
    assert unbound.exit_code == 3, unbound.output
    bound = CliRunner().invoke(main, [*base, "--signer", f"IKFT={pki.certs['signer-ikft']}"])
    assert bound.exit_code == 1, bound.output
    assert "not one of IKFT's signing certificates" in bound.output
    wrong = CliRunner().invoke(main, [*base, "--signer", "IKFT"])
    assert wrong.exit_code == 2 and "DG=CERT" in wrong.output


def test_a_letter_past_its_validity_is_not_valid(letters: dict[str, Letter]) -> None:
    """Checked as of the day after its last day (a B-LTA letter verifies at any later time)."""
    letter = letters["B-LTA-html"]
    until = read_request(letter.data).valid_until
    assert isinstance(until, date)
    last_day = datetime.combine(until, time(12), tzinfo=UTC)
    on_its_last_day = Verifier.from_settings(letter.settings, at=last_day)
    report = on_its_last_day.verify(letter.data)
    assert report.verdict is Verdict.VALID, report.checks
    assert check(report, "validity").detail == f"in force until {until.isoformat()}"
    after = Verifier.from_settings(letter.settings, at=last_day + timedelta(days=1))
    report = after.verify(letter.data)
    assert report.verdict is Verdict.INVALID, report.checks
    assert [c.name for c in report.checks if not c.passed] == ["validity"]
    assert check(report, "validity").detail == f"the letter's validity ended on {until}"
