"""What ties a letter to the ministry, and whether it is still in force.

A trust root vouches for everyone it certified, not only the ministry's Directorates General: a
letter signed with another Directorate General's key (or any other certificate under the root)
chains to the root as well as a genuine one. Without the register, only the ministry's own
signing certificates (``verification.signers``), each bound to its Directorate General, tell
them apart; with neither, no letter is valid. A letter past its *berlaku sampai dengan* day is
genuine but no longer in force: it is not valid either.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from docgen.cli import main
from docgen.config import HOME_ENV, Settings
from docgen.render import Renderer
from docgen.render.pdf import ATTACHMENT_NAME, read_request
from docgen.reports import Verdict
from docgen.verify import Verifier
from docgen.verify.binding import Signers, signed_facts, validity_check
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
    lower = CliRunner().invoke(main, [*base, "--signer", f"ikft={pki.certs['signer-ikft']}"])
    assert lower.exit_code == 2, lower.output
    assert "ikft is no Directorate General code (known: AGRO, IKFT, ILMATE)" in lower.output


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


# --- the request the checks read is the only one a reader can find ------------------------------


def _rewritten(data: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(data))
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _second_request(writer: IncrementalPdfFileWriter) -> generic.IndirectObject:
    """Another request stream (AGRO's service, valid to 2099), added to the file."""
    other = json.dumps({"service": "AGRO-REKOM-GULA", "valid_until": "2099-12-31"}).encode()
    return writer.add_object(generic.StreamObject({}, stream_data=other))


def _listed_twice(writer: IncrementalPdfFileWriter) -> None:
    tree = writer.root["/Names"]["/EmbeddedFiles"]
    spec = generic.DictionaryObject(
        {
            generic.pdf_name("/Type"): generic.pdf_name("/Filespec"),
            generic.pdf_name("/F"): generic.pdf_string(ATTACHMENT_NAME),
            generic.pdf_name("/EF"): generic.DictionaryObject(
                {generic.pdf_name("/F"): _second_request(writer)}
            ),
        }
    )
    names = tree["/Names"]
    tree["/Names"] = generic.ArrayObject(
        [generic.pdf_string(ATTACHMENT_NAME), writer.add_object(spec), *names]
    )
    writer.update_container(tree)


def _another_unicode_stream(writer: IncrementalPdfFileWriter) -> None:
    spec = writer.root["/Names"]["/EmbeddedFiles"]["/Names"][1]
    spec["/EF"]["/UF"] = _second_request(writer)
    writer.update_container(spec)


def _in_kids(writer: IncrementalPdfFileWriter) -> None:
    tree = writer.root["/Names"]["/EmbeddedFiles"]
    leaf = generic.DictionaryObject(
        {
            generic.pdf_name("/Names"): generic.ArrayObject(
                [generic.pdf_string(ATTACHMENT_NAME), _second_request(writer)]
            ),
            generic.pdf_name("/Limits"): generic.ArrayObject(
                [generic.pdf_string(ATTACHMENT_NAME), generic.pdf_string(ATTACHMENT_NAME)]
            ),
        }
    )
    tree["/Kids"] = generic.ArrayObject([writer.add_object(leaf)])
    writer.update_container(tree)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_listed_twice, "not just the one request"),
        (_another_unicode_stream, "holds more than one stream"),
        (_in_kids, "not just the one request"),
    ],
    ids=["listed-twice", "another-uf-stream", "in-kids"],
)
def test_request_data_two_readers_could_read_differently_is_not_relied_on(
    change: Callable[[IncrementalPdfFileWriter], None], problem: str, letters: dict[str, Letter]
) -> None:
    """Readers disagree on which of two requests is the letter's: neither is taken."""
    genuine = letters["B-B-docx"].data
    assert signed_facts(genuine).problem is None
    facts = signed_facts(_rewritten(genuine, change))
    assert facts.problem is not None and problem in facts.problem
    assert facts.service is None
    signers = Signers.from_settings(letters["B-B-docx"].settings)
    assert signers is not None
    assert not signers.check(None, facts).passed
    validity = validity_check(facts, date(2026, 1, 1))
    assert validity is not None and not validity.passed


@pytest.mark.parametrize("until", [20991231, {"y": 2099}, "2027-06-31", "2099-12-31T00:00"])
def test_a_validity_that_is_no_date_fails(until: object, letters: dict[str, Letter]) -> None:
    """A valid_until docgen never writes is not skipped: the validity check fails."""

    def request_valid_until(writer: IncrementalPdfFileWriter) -> None:
        spec = writer.root["/Names"]["/EmbeddedFiles"]["/Names"][1]
        request = json.loads(spec["/EF"]["/F"].data)
        request["valid_until"] = until
        new = writer.add_object(generic.StreamObject({}, stream_data=json.dumps(request).encode()))
        spec["/EF"]["/F"] = spec["/EF"]["/UF"] = new
        writer.update_container(spec)

    facts = signed_facts(_rewritten(letters["B-B-docx"].data, request_valid_until))
    assert facts.service == "IKFT-PERTEK-BAN"
    assert facts.problem == f"The request's valid_until {until!r} is no date"
    check = validity_check(facts, date(2026, 1, 1))
    assert check is not None and not check.passed
