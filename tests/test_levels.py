"""Long-term signatures: B-T, B-LT and B-LTA against live loopback services, and their faults."""

from __future__ import annotations

import io
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.dss import DocumentSecurityStore

from docgen.config import KeySettings, Settings
from docgen.errors import ConfigError, ServiceUnavailable, SigningError
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from docgen.reports import IssueOutcome
from docgen.sign import SignerBackend, open_backend
from docgen.sign.pades import resolve_level
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLES, load_request

STEMS = {"html": "ilmate-pertek-baja-approved", "docx": "ikft-pertek-ban-approved"}


def _settings(tmp: Path, **signing: object) -> Settings:
    Register.create(tmp / "register.sqlite3").close()
    return Settings.load(
        letter_register={"path": str(tmp / "register.sqlite3")},
        output=str(tmp / "letters"),
        signing=signing,
    )


@pytest.mark.parametrize("level", ["B-T", "B-LT", "B-LTA"])
@pytest.mark.parametrize("path", sorted(STEMS))
def test_each_level_on_each_path_verifies_and_reports_its_timestamps(
    level: str, path: str, tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    settings = _settings(tmp_path, level=level, timestamp_url=pki_services)
    with Issuer(settings, renderer=renderer) as issuer:
        letter = issuer.issue(load_request(EXAMPLES / f"{STEMS[path]}.json"))
    report = Verifier.from_settings(settings).verify_file(letter.path)
    assert report.ok, report.reasons
    assert report.level == level
    kinds = [stamp.kind for stamp in report.timestamps]
    assert kinds == (["signature", "document"] if level == "B-LTA" else ["signature"])
    assert all(stamp.trusted for stamp in report.timestamps)
    assert all("Time Stamping" in stamp.authority for stamp in report.timestamps)
    if level == "B-T":  # no revocation data embedded: the signer is checked online
        assert report.revocation is not None and report.revocation.startswith("good, checked")
    else:
        assert report.revocation is not None and report.revocation.startswith("good")
    assert report.offline is (level == "B-LTA")
    # bytes after the last revision belong to no signature, timestamp or validation data
    appended = Verifier.from_settings(settings).verify(letter.path.read_bytes() + b"%x\n")
    coverage = next(check for check in appended.checks if check.name == "coverage")
    assert not appended.ok and not coverage.passed
    assert "bytes after the file's last revision" in coverage.detail
    output = subprocess.run(["pdfsig", str(letter.path)], capture_output=True, text=True).stdout
    first = output.split("Signature #2")[0]
    assert "Signature is Valid" in first
    assert "ETSI.CAdES.detached" in first


def test_auto_is_lta_with_a_timestamping_authority_and_bb_without() -> None:
    assert resolve_level(Settings.load(signing={"timestamp_url": "http://127.0.0.1:9/t"})) == (
        "B-LTA"
    )
    assert resolve_level(Settings.load()) == "B-B"
    with pytest.raises(ConfigError, match="needs a timestamping authority"):
        resolve_level(Settings.load(signing={"level": "B-T"}))


@pytest.fixture
def silent_service() -> Iterator[str]:
    """A service that accepts connections and never answers: a hung timestamping authority."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/tsa"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def _closed_port() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: a stopped service
    return f"http://127.0.0.1:{port}/tsa"


@pytest.mark.parametrize("kind", ["stopped", "hung"])
def test_a_down_or_slow_timestamping_authority_is_a_bounded_clear_error_and_no_letter(
    kind: str, tmp_path: Path, renderer: Renderer, pki: DemoPki, silent_service: str
) -> None:
    url = _closed_port() if kind == "stopped" else silent_service
    settings = _settings(tmp_path, level="B-LTA", timestamp_url=url, timeout_seconds=0.5, retries=1)
    started = time.monotonic()
    with Issuer(settings, renderer=renderer) as issuer:
        with pytest.raises(ServiceUnavailable, match="timestamping authority") as caught:
            issuer.issue(load_request(EXAMPLES / f"{STEMS['html']}.json"))
        (record,) = issuer.register.records()
    assert time.monotonic() - started < 30, "timeouts and retries are bounded"
    assert caught.value.retryable and "tried 2 times" in str(caught.value)
    assert record.status.value == "void"
    assert not list(tmp_path.rglob("*.pdf*")), "nothing is written as B-LTA when it is not"


def test_a_batch_marks_letters_retryable_when_the_authority_is_down_and_a_rerun_completes(
    tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    from docgen.batch import BatchRunner, read_records

    source = tmp_path / "today.jsonl"
    source.write_text(
        (EXAMPLES / f"{STEMS['html']}.json").read_text("utf-8").replace("\n", "") + "\n"
    )
    down = _settings(
        tmp_path, level="B-LTA", timestamp_url=_closed_port(), timeout_seconds=0.5, retries=0
    )
    manifest = tmp_path / "manifest.jsonl"
    summary = BatchRunner(down, workers=1).run(read_records(source), manifest=manifest)
    assert summary.counts == {"failed": 1}
    assert '"retryable": true' in manifest.read_text()
    up = _settings(tmp_path, level="B-LTA", timestamp_url=pki_services)
    summary = BatchRunner(up, workers=1).run(read_records(source), manifest=manifest)
    assert summary.counts == {"issued": 1}
    with Issuer(up, renderer=renderer) as issuer:
        again = issuer.issue(load_request(EXAMPLES / f"{STEMS['html']}.json"))
    assert again.outcome is IssueOutcome.ALREADY_ISSUED


def test_refreshing_an_archived_letter_adds_a_timestamp_and_it_still_verifies(
    tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    from click.testing import CliRunner

    from docgen.cli import main

    settings = _settings(tmp_path, level="B-LTA", timestamp_url=pki_services)
    request = load_request(EXAMPLES / f"{STEMS['html']}.json")
    with Issuer(settings, renderer=renderer) as issuer:
        letter = issuer.issue(request)
    before = letter.path.read_bytes()
    config = tmp_path / "docgen.toml"
    config.write_text(
        f'output = "{tmp_path / "letters"}"\n'
        f'[letter_register]\npath = "{tmp_path / "register.sqlite3"}"\n'
        f'[signing]\nlevel = "B-LTA"\ntimestamp_url = "{pki_services}"\n'
    )
    result = CliRunner().invoke(main, ["--config", str(config), "timestamp", str(letter.path)])
    assert result.exit_code == 0, result.output
    after = letter.path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)
    report = Verifier.from_settings(settings).verify_file(letter.path)
    assert report.ok, report.reasons
    assert [stamp.kind for stamp in report.timestamps] == ["signature", "document", "document"]
    assert report.letter_number == letter.letter_number  # the register still knows the letter
    with Issuer(settings, renderer=renderer) as issuer:
        assert issuer.issue(request).outcome is IssueOutcome.ALREADY_ISSUED


def test_only_b_lta_letters_can_be_refreshed(issued: dict[str, object], pki_services: str) -> None:
    from docgen.archive import Archiver
    from docgen.errors import SigningError
    from docgen.reports import IssuedLetter

    letter = issued[STEMS["html"]]
    assert isinstance(letter, IssuedLetter)
    archiver = Archiver(Settings.load(signing={"timestamp_url": pki_services}))
    with pytest.raises(SigningError, match="not B-LTA"):
        archiver.refresh(letter.path.read_bytes())


AFTER_EXPIRY = datetime(2032, 6, 1, tzinfo=UTC)  # the demo signers' certificates end in 2030


@pytest.mark.parametrize("path", sorted(STEMS))
def test_with_the_clock_past_the_signers_expiry_b_lta_still_verifies_and_b_b_does_not(
    path: str, tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    letters = {}
    for level in ("B-B", "B-LTA"):
        settings = _settings(tmp_path / level, level=level, timestamp_url=pki_services)
        with Issuer(settings, renderer=renderer) as issuer:
            letters[level] = issuer.issue(load_request(EXAMPLES / f"{STEMS[path]}.json"))
    later = Verifier.from_settings(_settings(tmp_path / "B-LTA"), at=AFTER_EXPIRY)
    report = later.verify_file(letters["B-LTA"].path)
    # the signature holds; only the letter's own validity period has ended by then
    assert [c.name for c in report.checks if not c.passed] == ["validity"], report.reasons
    assert "not revoked when signed" in next(c.detail for c in report.checks if c.name == "trust")
    report = later.verify_file(letters["B-B"].path)
    assert not report.ok
    assert "no timestamp proves" in next(c.detail for c in report.checks if c.name == "trust")


def _revoked_signer(pki: DemoPki) -> SignerBackend:
    """The demo signer whose certificate was revoked in 2025."""
    passphrase_file = pki.root_cert.parent / "passphrase"
    return open_backend(
        KeySettings(pkcs12=pki.p12["signer-revoked"], passphrase_file=passphrase_file)
    )


def test_a_letter_signed_after_the_signer_was_revoked_fails_verification(
    tmp_path: Path, renderer: Renderer, pki: DemoPki, pki_services: str
) -> None:
    settings = _settings(tmp_path)  # B-B: the letter carries no revocation data
    with Issuer(settings, renderer=renderer, signers={"ILMATE": _revoked_signer(pki)}) as issuer:
        letter = issuer.issue(load_request(EXAMPLES / f"{STEMS['html']}.json"))
    online = Verifier.from_settings(settings).verify_file(letter.path)
    assert not online.ok
    assert online.revocation == "revoked"
    trust = next(c.detail for c in online.checks if c.name == "trust")
    assert "revoked" in trust
    offline = Verifier.from_settings(settings, online=False).verify_file(letter.path)
    assert offline.revocation is not None and offline.revocation.startswith("not checked")


def test_issuing_at_b_lta_with_a_revoked_signer_is_refused_not_retried(
    tmp_path: Path, renderer: Renderer, pki: DemoPki, pki_services: str
) -> None:
    settings = _settings(tmp_path, level="B-LTA", timestamp_url=pki_services)
    with Issuer(settings, renderer=renderer, signers={"ILMATE": _revoked_signer(pki)}) as issuer:
        with pytest.raises(SigningError, match="revoked") as caught:
            issuer.issue(load_request(EXAMPLES / f"{STEMS['html']}.json"))
        assert not isinstance(caught.value, ServiceUnavailable)
        (record,) = issuer.register.records()
    assert record.status.value == "void"


def test_the_level_can_be_chosen_per_command(tmp_path: Path, pki_services: str) -> None:
    from click.testing import CliRunner

    from docgen.cli import main

    config = tmp_path / "docgen.toml"
    config.write_text(
        f'output = "{tmp_path / "letters"}"\n'
        f'[letter_register]\npath = "{tmp_path / "register.sqlite3"}"\n'
        f'[signing]\ntimestamp_url = "{pki_services}"\n'
    )
    Register.create(tmp_path / "register.sqlite3").close()
    example = EXAMPLES / f"{STEMS['html']}.json"
    result = CliRunner().invoke(
        main, ["--config", str(config), "issue", "--level", "B-T", str(example)]
    )
    assert result.exit_code == 0, result.output
    path = Path(result.output.split()[1])
    report = Verifier.from_settings(_settings(tmp_path)).verify_file(path)
    assert report.ok and report.level == "B-T"


@pytest.fixture
def services_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every HTTP request docgen makes goes to a proxy where nothing listens: services down."""
    monkeypatch.setenv("HTTP_PROXY", _closed_port().removesuffix("/tsa"))
    monkeypatch.setenv("http_proxy", _closed_port().removesuffix("/tsa"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


def test_an_unreachable_ocsp_responder_at_signing_is_a_retryable_clear_error(
    tmp_path: Path, renderer: Renderer, pki_services: str, services_unreachable: None
) -> None:
    settings = _settings(
        tmp_path, level="B-LT", timestamp_url=pki_services, timeout_seconds=1, retries=1
    )
    with Issuer(settings, renderer=renderer) as issuer:
        with pytest.raises(ServiceUnavailable, match="revocation status") as caught:
            issuer.issue(load_request(EXAMPLES / f"{STEMS['html']}.json"))
        (record,) = issuer.register.records()
    assert caught.value.retryable
    assert record.status.value == "void"
    assert not list(tmp_path.rglob("*.pdf*"))


def test_a_b_b_letter_whose_signer_cannot_be_checked_is_unchecked_not_valid(
    tmp_path: Path,
    issued: dict[str, object],
    issuing_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from docgen.reports import IssuedLetter, Verdict

    letter = issued[STEMS["html"]]
    assert isinstance(letter, IssuedLetter)
    monkeypatch.setenv("HTTP_PROXY", _closed_port().removesuffix("/tsa"))
    monkeypatch.setenv("http_proxy", _closed_port().removesuffix("/tsa"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    report = Verifier.from_settings(issuing_settings).verify_file(letter.path)
    assert report.verdict is Verdict.UNCHECKED, report.reasons
    assert report.revocation is not None and "did not answer" in report.revocation


def test_letters_of_several_signers_from_one_issuer_carry_only_their_own_revocation_data(
    tmp_path: Path, renderer: Renderer, pki_services: str
) -> None:
    """One issuer signing for two Directorates General keeps their revocation data apart.

    pyHanko embeds every OCSP response its validation context holds; with one context for all
    signers, the second letter carried the first signer's response too, and long-term
    validation of it failed once the responses were older than their next update.
    """
    settings = _settings(tmp_path, level="B-LTA", timestamp_url=pki_services)
    with Issuer(settings, renderer=renderer) as issuer:
        letters = [
            issuer.issue(load_request(EXAMPLES / f"{STEMS[path]}.json"))
            for path in ("docx", "html")
        ]
    for letter in letters:
        reader = PdfFileReader(io.BytesIO(letter.path.read_bytes()))
        signer = reader.embedded_regular_signatures[0].signer_cert
        dss = DocumentSecurityStore.read_dss(reader)
        answered = {
            response["tbs_response_data"]["responses"][0]["cert_id"]["serial_number"].native
            for response in (
                ocsp.OCSPResponse.load(ref.get_object().data).basic_ocsp_response
                for ref in dss.ocsps
            )
        }
        assert answered == {signer.serial_number}, letter.letter_number
        # a day on, the embedded responses are long past their next update: still valid
        later = Verifier.from_settings(settings, at=datetime.now(UTC) + timedelta(days=1))
        report = later.verify_file(letter.path)
        assert report.ok, report.reasons
