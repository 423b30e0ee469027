"""Resource abuse: hostile files end in a report, work is bounded, and files are vetted first.

Items 6 to 9 of the issue: self-referencing, circular and deeply nested objects (with a register
configured and without), thousands of revisions, non-regular files and files over the size
limit, and a file name that is not UTF-8 in ``docgen verify --json``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from docgen.config import Settings
from docgen.reports import Verdict, VerificationReport
from docgen.verify import Verifier
from docgen.verify.binding import Signers
from scripts.demo_pki import DemoPki
from tests.attacks.builders import duplicate_xref_quantity
from tests.attacks.conftest import (
    LETTERS,
    TWO_LETTERS,
    Letter,
    check,
    deadline,
    invalid_by_structure,
    valid_with_structure,
)
from tests.attacks.hostile import HOSTILE_FILES, HOSTILE_UPDATES, many_revisions
from tests.attacks.rawpdf import read
from tests.helpers import ROOT

NOT_VALID = (Verdict.INVALID, Verdict.UNCHECKED)


def _ends_in_a_report(verifier: Verifier, data: bytes, name: str) -> VerificationReport:
    """Verify ``data``; any exception or a run over 60 s fails the test."""
    with deadline(60):
        report = verifier.verify(data, name=name)
    assert isinstance(report, VerificationReport)
    return report


@pytest.fixture(scope="module")
def without_register(issuing_settings: Settings) -> Verifier:
    """The session's settings, but no register (a recipient's view)."""
    return Verifier.from_settings(issuing_settings, use_register=False)


# --- item 6: hostile files end in a report --------------------------------------------------------


@pytest.mark.parametrize("register", [True, False], ids=["register", "no-register"])
@pytest.mark.parametrize("name", list(HOSTILE_FILES))
def test_a_small_hostile_file_ends_in_a_report(
    name: str, register: bool, verifier: Verifier, without_register: Verifier
) -> None:
    report = _ends_in_a_report(
        verifier if register else without_register, HOSTILE_FILES[name], name
    )
    assert report.verdict in NOT_VALID, report.checks


def test_the_self_referencing_root_is_as_small_as_the_issues() -> None:
    assert len(HOSTILE_FILES["root-is-itself"]) <= 138
    assert HOSTILE_FILES["root-is-itself"].startswith(b"%PDF-")


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
@pytest.mark.parametrize("name", list(HOSTILE_UPDATES))
def test_a_hostile_update_to_a_letter_ends_in_a_report(name: str, letter: Letter) -> None:
    report = _ends_in_a_report(letter.verifier, HOSTILE_UPDATES[name](letter.data), name)
    assert report.verdict in NOT_VALID, report.checks


@pytest.mark.parametrize("letter", ["B-LTA-html"], indirect=True)
@pytest.mark.parametrize("name", list(HOSTILE_UPDATES))
def test_a_hostile_update_ends_in_a_report_without_a_register(
    name: str, letter: Letter, without_register: Verifier
) -> None:
    report = _ends_in_a_report(without_register, HOSTILE_UPDATES[name](letter.data), name)
    assert report.verdict in NOT_VALID, report.checks


# --- item 8: revisions are bounded --------------------------------------------------------------


@pytest.mark.parametrize("letter", TWO_LETTERS, indirect=True)
def test_two_thousand_allowed_looking_revisions_are_refused_fast(letter: Letter) -> None:
    forged = many_revisions(letter.data, 2000)
    assert read(forged).xrefs.total_revisions >= 2000
    started = time.monotonic()
    with deadline(5):
        report = letter.verifier.verify(forged, name="revisions.pdf")
    assert time.monotonic() - started < 5
    invalid_by_structure(report, "revisions")


def _revisions_after_signature(data: bytes) -> int:
    reader = read(data)
    signed = reader.embedded_regular_signatures[0].signed_revision
    return int(reader.xrefs.total_revisions) - 1 - int(signed)


@pytest.mark.parametrize("path", ["html", "docx"])
def test_the_revision_limit_counts_every_revision_after_the_signature(
    path: str, refreshed: dict[str, bytes], lta_settings: Settings
) -> None:
    data = refreshed[path]
    count = _revisions_after_signature(data)
    assert count >= 4, "a letter refreshed twice has at least four revisions after signing"
    trust = lta_settings.verification.trust
    signers = Signers.from_settings(lta_settings)
    at_limit = Verifier(trust, max_revisions=count, signers=signers).verify(
        data, name="at-limit.pdf"
    )
    valid_with_structure(at_limit)
    over = Verifier(trust, max_revisions=count - 1, signers=signers).verify(data, name="over.pdf")
    invalid_by_structure(over, "revisions")


def test_the_revision_limit_is_a_setting(
    refreshed: dict[str, bytes], lta_settings: Settings
) -> None:
    data = refreshed["html"]
    count = _revisions_after_signature(data)
    tight = Settings.load(
        letter_register={"path": str(lta_settings.letter_register.path)},
        verification={"max_revisions": count - 1},
    )
    invalid_by_structure(Verifier.from_settings(tight).verify(data), "revisions")
    assert Settings.load().verification.max_revisions == 100


# --- item 9: files are vetted before they are read ----------------------------------------------

_CHILD = """
import json, sys, time
from pathlib import Path
from docgen.verify import Verifier
verifier = Verifier([Path(sys.argv[1])])
started = time.monotonic()
report = verifier.verify_file(Path(sys.argv[2]))
print(json.dumps({"seconds": time.monotonic() - started, "report": report.model_dump(mode="json")}))
"""


def _verify_in_a_child(pki: DemoPki, target: str) -> dict[str, object]:
    """verify_file in a child process limited to 2 GB of memory and 60 s (reading /dev/zero
    unbounded would otherwise take the machine's memory with it)."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    run = subprocess.run(
        [sys.executable, "-c", _CHILD, str(pki.root_cert), target],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=limit,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    result: dict[str, object] = json.loads(run.stdout)
    return result


def test_dev_zero_is_refused_before_it_is_read(pki: DemoPki) -> None:
    result = _verify_in_a_child(pki, "/dev/zero")
    report = VerificationReport.model_validate(result["report"])
    assert report.verdict is Verdict.UNCHECKED, report.checks
    assert not check(report, "file").passed
    assert "not a regular file" in check(report, "file").detail
    assert isinstance(result["seconds"], float) and result["seconds"] < 2


def test_a_fifo_is_refused_without_blocking(tmp_path: Path, verifier: Verifier) -> None:
    fifo = tmp_path / "letter.pdf"
    os.mkfifo(fifo)
    reports: list[VerificationReport] = []
    worker = threading.Thread(target=lambda: reports.append(verifier.verify_file(fifo)))
    worker.daemon = True
    started = time.monotonic()
    worker.start()
    worker.join(2)
    blocked = worker.is_alive()
    if blocked:  # let the blocked reader go: a writer that closes at once gives it end of file
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(descriptor)
        worker.join(10)
    assert not blocked, "verify_file blocked on a FIFO"
    assert time.monotonic() - started < 2
    (report,) = reports
    assert report.verdict is Verdict.UNCHECKED, report.checks
    assert "not a regular file" in check(report, "file").detail


def test_a_directory_is_refused(tmp_path: Path, verifier: Verifier) -> None:
    report = verifier.verify_file(tmp_path)
    assert report.verdict is Verdict.UNCHECKED
    assert not check(report, "file").passed


@pytest.mark.parametrize("letter", ["B-LTA-html"], indirect=True)
def test_a_file_over_the_size_limit_is_refused_and_one_at_it_is_verified(
    letter: Letter, tmp_path: Path
) -> None:
    path = tmp_path / "letter.pdf"
    path.write_bytes(letter.data)
    trust = letter.settings.verification.trust
    signers = Signers.from_settings(letter.settings)
    small = Verifier(trust, max_file_bytes=10_000, signers=signers).verify_file(path)
    assert small.verdict is Verdict.UNCHECKED, small.checks
    assert not check(small, "file").passed
    assert "larger than" in check(small, "file").detail
    exact = Verifier(trust, max_file_bytes=len(letter.data), signers=signers).verify_file(path)
    valid_with_structure(exact)  # no false rejection at the limit itself
    default = Verifier(trust, signers=signers).verify_file(path)  # the default limit: 50 MB
    assert default.verdict is Verdict.VALID


def test_the_size_limit_is_a_setting(tmp_path: Path, letters: dict[str, Letter]) -> None:
    letter = letters["B-LTA-html"]
    path = tmp_path / "letter.pdf"
    path.write_bytes(letter.data)
    tight = Settings.load(
        letter_register={"path": str(letter.settings.letter_register.path)},
        verification={"max_file_bytes": 10_000},
    )
    report = Verifier.from_settings(tight).verify_file(path)
    assert report.verdict is Verdict.UNCHECKED
    assert "larger than" in check(report, "file").detail
    default = Settings.load().verification.max_file_bytes
    assert default == 50 * 1024 * 1024 or default == 50_000_000


# --- item 7: a file name that is not UTF-8 --------------------------------------------------------


@pytest.mark.parametrize("letter", ["B-B-html"], indirect=True)
def test_json_output_survives_a_file_name_that_is_not_utf8(letter: Letter, tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    odd = folder + b"/surat-\xff-palsu.pdf"
    with open(odd, "wb") as handle:
        handle.write(duplicate_xref_quantity(letter.data))
    plain = tmp_path / "surat-asli.pdf"
    plain.write_bytes(letter.data)
    environment = {key: value for key, value in os.environ.items() if key != "DOCGEN_CONFIG"}
    command = [
        os.fsencode(sys.executable),
        b"-m",
        b"docgen",
        b"verify",
        b"--json",
        b"--no-register",
        odd,
        os.fsencode(plain),
    ]
    run = subprocess.run(
        command, capture_output=True, cwd=ROOT, env=environment, timeout=120, check=False
    )
    stderr = run.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr, stderr[-3000:]
    assert run.returncode in (1, 3), (run.returncode, stderr[-3000:])
    lines = run.stdout.decode("utf-8").splitlines()
    reports = [json.loads(line) for line in lines]
    assert len(reports) == 2, lines
    assert "surat-" in reports[0]["file"] and "palsu.pdf" in reports[0]["file"]
    assert reports[0]["verdict"] == "invalid"
    assert reports[1]["verdict"] == "valid"


def test_the_pdf_tools_are_installed() -> None:
    for tool in ("pdftotext", "pdfinfo", "pdfdetach"):
        assert shutil.which(tool), f"poppler-utils' {tool} is needed to show forgeries work"
