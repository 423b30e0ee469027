"""Issuing: numbered once, signed, recorded, written safely; idempotent on the request id."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from docgen.catalogue import Catalogue
from docgen.cli import main
from docgen.config import KeySettings, Settings
from docgen.errors import DocgenError, LetterInProgress, RequestConflict
from docgen.models import LetterRequest
from docgen.pipeline import Issuer, request_hash
from docgen.register import LetterStatus, Register
from docgen.render import Renderer
from docgen.render.pdf import read_request
from docgen.reports import IssuedLetter, IssueOutcome
from docgen.sign import LocalKeySigner, SignerBackend, SigningError, open_backend
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLE_FILES, EXAMPLES, load_request, pdf_text

HTML_EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"


def _variant(path: Path, request_id: str, **changes: object) -> LetterRequest:
    data = json.loads(path.read_text("utf-8"))
    data["request_id"] = request_id
    data.update(changes)
    return LetterRequest.from_mapping(data)


@pytest.fixture
def private_issuer(
    tmp_path: Path, renderer: Renderer, pki: DemoPki
) -> Iterator[tuple[Issuer, Settings]]:
    """An issuer with its own register and output folder (sharing the warm renderer)."""
    Register.create(tmp_path / "register.sqlite3").close()
    settings = Settings.load(
        letter_register={"path": str(tmp_path / "register.sqlite3")},
        output=str(tmp_path / "letters"),
    )
    with Issuer(settings, renderer=renderer) as issuer:
        yield issuer, settings


@pytest.mark.parametrize("stem", [path.stem for path in EXAMPLE_FILES])
def test_every_example_issues_and_verifies(
    stem: str, issued: dict[str, IssuedLetter], verifier: Verifier, tmp_path: Path
) -> None:
    letter = issued[stem]
    assert letter.outcome is IssueOutcome.ISSUED
    report = verifier.verify_file(letter.path)
    assert report.ok, report.reasons
    assert report.letter_number == letter.letter_number
    data = letter.path.read_bytes()
    assert read_request(data) == load_request(EXAMPLES / f"{stem}.json")
    text = " ".join(pdf_text(data, tmp_path).split())
    assert letter.letter_number in text
    assert "KONSEP" not in text


def test_letters_are_numbered_sequentially_per_series(issued: dict[str, IssuedLetter]) -> None:
    by_series: dict[str, list[int]] = {}
    for letter in issued.values():
        directorate = letter.directorate
        by_series.setdefault(directorate, []).append(int(letter.letter_number.split("/")[0]))
    for numbers in by_series.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))


def test_letter_file_is_laid_out_by_directorate_service_and_date(
    issued: dict[str, IssuedLetter], issuing_settings: Settings
) -> None:
    letter = issued["ilmate-pertek-baja-approved"]
    relative = letter.path.relative_to(issuing_settings.output)
    assert relative.parts[:2] == ("ILMATE", "ILMATE-PERTEK-BAJA")
    assert relative.name == letter.letter_number.replace("/", "-") + ".pdf"
    assert not [p for p in letter.path.parent.iterdir() if p.name.endswith(".part")]


def test_the_same_request_twice_gives_one_number_and_one_file(
    issuer: Issuer, issued: dict[str, IssuedLetter]
) -> None:
    first = issued["ikft-pertek-ban-approved"]
    modified = first.path.stat().st_mtime_ns
    again = issuer.issue(load_request(EXAMPLES / "ikft-pertek-ban-approved.json"))
    assert again.outcome is IssueOutcome.ALREADY_ISSUED
    assert (again.letter_number, again.path, again.sha256) == (
        first.letter_number,
        first.path,
        first.sha256,
    )
    assert first.path.stat().st_mtime_ns == modified


def test_a_letter_issued_into_a_relative_folder_is_found_from_any_folder(
    private_issuer: tuple[Issuer, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--out out/letters``, then the same request asked for from elsewhere (a cron job)."""
    issuer, _ = private_issuer
    monkeypatch.chdir(tmp_path)
    request = _variant(HTML_EXAMPLE, "SIINAS-2026-900001")
    first = issuer.issue(request, out_dir=Path("out/letters"))
    assert first.path.is_absolute()
    assert first.path.is_relative_to(tmp_path / "out" / "letters")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = issuer.issue(request, out_dir=Path("out/letters"))
    assert again.outcome is IssueOutcome.ALREADY_ISSUED
    assert again.path == first.path


def test_the_same_request_id_with_other_content_is_refused(issuer: Issuer) -> None:
    original = load_request(HTML_EXAMPLE)
    changed = _variant(HTML_EXAMPLE, original.request_id, enclosure="2 (dua) berkas")
    with pytest.raises(RequestConflict, match="different content"):
        issuer.issue(changed)


class _PulledToken(LocalKeySigner):
    """A signer (our own interface) whose token was pulled out mid-run."""

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        raise SigningError("the signing token was removed")


def _broken(real: SignerBackend) -> SignerBackend:
    certificate = real.signer.signing_cert
    assert certificate is not None
    signer = _PulledToken(ec.generate_private_key(ec.SECP256R1()), certificate, [])
    return SignerBackend(signer=signer, subject=real.subject, kind="test")


def test_a_signing_failure_voids_the_number_and_leaves_no_file(
    tmp_path: Path, renderer: Renderer, pki: DemoPki
) -> None:
    Register.create(tmp_path / "register.sqlite3").close()
    settings = Settings.load(
        letter_register={"path": str(tmp_path / "register.sqlite3")},
        output=str(tmp_path / "letters"),
    )
    real = open_backend(settings.signing.keys["ILMATE"])
    request = load_request(HTML_EXAMPLE)
    with Issuer(settings, renderer=renderer, signers={"ILMATE": _broken(real)}) as broken:
        with pytest.raises(SigningError, match="token was removed"):
            broken.issue(request)
        (record,) = broken.register.records()
        assert record.status is LetterStatus.VOID
        assert record.reason is not None and "token was removed" in record.reason
    assert not list(tmp_path.rglob("*.pdf*")), "no letter and no temporary file is left"
    with Issuer(settings, renderer=renderer) as working:
        letter = working.issue(request)
        assert letter.letter_number.startswith("2/")  # the void number 1 is never reused
        records = {r.seq: r.status for r in working.register.records()}
        assert records == {1: LetterStatus.VOID, 2: LetterStatus.ISSUED}


def test_a_crash_between_recording_and_renaming_is_completed_by_the_next_run(
    private_issuer: tuple[Issuer, Settings],
) -> None:
    issuer, _ = private_issuer
    letter = issuer.issue(load_request(HTML_EXAMPLE))
    pending = letter.path.with_name(f".{letter.path.name}.{letter.register_id}.part")
    letter.path.rename(pending)  # the state a crash right before the rename leaves
    again = issuer.issue(load_request(HTML_EXAMPLE))
    assert again.outcome is IssueOutcome.ALREADY_ISSUED
    assert again.path.exists() and not pending.exists()
    assert again.sha256 == letter.sha256


def test_a_missing_issued_file_is_reported_not_reissued(
    private_issuer: tuple[Issuer, Settings],
) -> None:
    issuer, _ = private_issuer
    letter = issuer.issue(load_request(HTML_EXAMPLE))
    letter.path.unlink()
    with pytest.raises(DocgenError, match="missing or changed"):
        issuer.issue(load_request(HTML_EXAMPLE))
    assert len(issuer.register.records()) == 1


def test_a_live_reservation_blocks_a_second_issue_and_a_stale_one_is_taken_over(
    tmp_path: Path, renderer: Renderer, pki: DemoPki, catalogue: Catalogue
) -> None:
    settings = Settings.load(
        letter_register={"path": str(tmp_path / "register.sqlite3")},
        output=str(tmp_path / "letters"),
    )
    request = load_request(HTML_EXAMPLE)
    other_process = Register.create(settings.letter_register.path)
    held = other_process.reserve(
        request,
        catalogue.get(request.service).numbering(date.today()),
        request_hash(request),
        issued_on=date.today(),
    )
    with Issuer(settings, renderer=renderer) as issuer, pytest.raises(LetterInProgress):
        issuer.issue(request)
    stale = Register(settings.letter_register.path, lease=timedelta(0))
    with Issuer(settings, renderer=renderer, register=stale) as issuer:
        letter = issuer.issue(request)
    assert letter.letter_number == held.letter_number


def _reserve_many(path: str, prefix: str, count: int, start: object) -> None:
    """Child process: reserve and issue ``count`` numbers in the shared register."""
    start.wait()  # type: ignore[attr-defined]
    settings = Settings.load()
    catalogue = Catalogue.load(settings.templates / "catalogue.toml")
    register = Register(Path(path))
    base = json.loads(HTML_EXAMPLE.read_text("utf-8"))
    service = catalogue.get(base["service"])
    for index in range(count):
        base["request_id"] = f"{prefix}-{index}"
        request = LetterRequest.from_mapping(base)
        record = register.reserve(
            request, service.numbering(date.today()), request_hash(request), issued_on=date.today()
        )
        register.mark_issued(record.register_id, sha256=f"{prefix}{index}", path="-", signer="-")


def test_two_processes_issuing_at_once_get_distinct_gapless_numbers(tmp_path: Path) -> None:
    path = str(tmp_path / "register.sqlite3")
    Register.create(Path(path)).close()
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    workers = [context.Process(target=_reserve_many, args=(path, name, 50, start)) for name in "AB"]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    records = Register(Path(path)).records()
    assert len(records) == 100
    assert sorted(r.seq for r in records) == list(range(1, 101))
    assert len({r.letter_number for r in records}) == 100
    assert {r.request_id.split("-")[0] for r in records} == {"A", "B"}


def test_cli_issue_and_revoke(tmp_path: Path, pki: DemoPki) -> None:
    config = tmp_path / "docgen.toml"
    config.write_text(
        f'output = "{tmp_path / "letters"}"\n[letter_register]\npath = "{tmp_path / "r.db"}"\n'
    )
    runner = CliRunner()
    made = runner.invoke(main, ["--config", str(config), "register", "init"])
    assert made.exit_code == 0, made.output
    first = runner.invoke(main, ["--config", str(config), "issue", str(HTML_EXAMPLE)])
    assert first.exit_code == 0, first.output
    number, path, note = first.output.split()[0], first.output.split()[1], first.output.strip()
    assert note.endswith("(issued)")
    again = runner.invoke(main, ["--config", str(config), "issue", str(HTML_EXAMPLE)])
    assert again.output.split()[:2] == [number, path]
    assert "(already issued)" in again.output
    ok = runner.invoke(main, ["--config", str(config), "verify", path])
    assert ok.exit_code == 0, ok.output
    revoked = runner.invoke(
        main, ["--config", str(config), "revoke", number, "--reason", "data perusahaan palsu"]
    )
    assert revoked.exit_code == 0, revoked.output
    failed = runner.invoke(main, ["--config", str(config), "verify", path])
    assert failed.exit_code == 1
    assert "data perusahaan palsu" in failed.output


def test_no_command_takes_a_passphrase_argument() -> None:
    def options(command: object) -> list[str]:
        found = []
        for parameter in getattr(command, "params", []):
            found += [*parameter.opts, *parameter.secondary_opts]
        for sub in getattr(command, "commands", {}).values():
            found += options(sub)
        return found

    assert not [o for o in options(main) if any(w in o for w in ("pass", "pin", "secret"))]


def test_a_wrong_passphrase_is_a_clear_error_that_never_shows_it(
    tmp_path: Path, pki: DemoPki
) -> None:
    secret = "salah-Sandi-7731"
    config = tmp_path / "docgen.toml"
    config.write_text(f'[letter_register]\npath = "{tmp_path / "r.db"}"\n')
    result = CliRunner().invoke(
        main,
        ["--verbose", "--config", str(config), "issue", str(HTML_EXAMPLE)],
        env={"DOCGEN_KEY_PASSPHRASE": secret},
    )
    assert result.exit_code == 77
    assert "wrong passphrase" in result.output
    assert secret not in result.output
    assert not (tmp_path / "r.db").exists() or not Register(tmp_path / "r.db").records()


def test_the_passphrase_is_not_in_the_process_arguments(pki: DemoPki) -> None:
    # the demo key is opened with the passphrase from a file, so argv never carries it
    key = Settings.load().signing.keys["AGRO"]
    assert isinstance(key, KeySettings) and key.passphrase_file is not None
    secret = key.passphrase_file.read_text().strip()
    arguments = Path(f"/proc/{os.getpid()}/cmdline").read_bytes().decode(errors="replace")
    assert secret not in arguments


def test_pdfsig_reports_the_signature_valid_and_the_whole_document_signed(
    issued: dict[str, IssuedLetter],
) -> None:
    for letter in issued.values():
        output = subprocess.run(
            ["pdfsig", str(letter.path)], capture_output=True, text=True, check=False
        ).stdout
        assert "Signature is Valid" in output, letter.path
        assert "Total document signed" in output, letter.path
