"""One Issuer and one Verifier shared by threads, and used in processes forked after warm-up.

A web portal builds them once and shares them between its request threads, and a pre-forking
server (gunicorn, uvicorn) forks its workers after the parent warmed them. Every call here has a
deadline, so a hang fails the test instead of blocking the run.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import pytest

from docgen.config import Settings
from docgen.files import process_temp_dir
from docgen.models import LetterRequest
from docgen.pipeline import Issuer
from docgen.register import LetterStatus, Register
from docgen.render import Renderer
from docgen.reports import IssuedLetter, IssueOutcome, Verdict
from docgen.verify import IsolatedVerifier, Verifier
from tests.helpers import one_page_example
from tests.test_batch import _processes

T = TypeVar("T")


HTML = LetterRequest.from_mapping(one_page_example("agro-rekom-garam-rejected"))
DOCX = LetterRequest.from_mapping(one_page_example("ikft-pertek-ban-rejected"))


def _request(template: LetterRequest, name: str) -> LetterRequest:
    return template.model_copy(update={"request_id": name})


def _in_threads(calls: Sequence[Callable[[], T]], threads: int, seconds: float) -> list[T]:
    """Run ``calls`` on ``threads`` daemon threads; each result waited for until the deadline.

    Daemon threads: a call that hangs fails the test, and the run can still end.
    """
    futures: list[Future[T]] = [Future() for _ in calls]
    pending = iter(range(len(calls)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            futures[index].set_running_or_notify_cancel()
            try:
                futures[index].set_result(calls[index]())
            except BaseException as error:
                futures[index].set_exception(error)

    for number in range(threads):
        threading.Thread(target=work, name=f"test-worker-{number}", daemon=True).start()
    deadline = time.monotonic() + seconds
    return [future.result(timeout=max(0.0, deadline - time.monotonic())) for future in futures]


@pytest.fixture
def lta_settings(tmp_path: Path, issuing_settings: Settings, pki_services: str) -> Settings:
    """B-LTA against the live test services, into a register and folder of this test's own."""
    Register.create(tmp_path / "register.sqlite3").close()
    return issuing_settings.model_copy(
        update={
            "letter_register": issuing_settings.letter_register.model_copy(
                update={"path": tmp_path / "register.sqlite3"}
            ),
            "output": tmp_path / "letters",
            "signing": issuing_settings.signing.model_copy(
                update={"level": "B-LTA", "timestamp_url": pki_services}
            ),
        }
    )


@pytest.fixture
def lta_issuer(lta_settings: Settings, renderer: Renderer) -> Iterator[Issuer]:
    with Issuer(lta_settings, renderer=renderer) as issuer:
        yield issuer


def _statuses(settings: Settings) -> Counter[LetterStatus]:
    """How many of the register's letters are in each status."""
    register = Register(settings.letter_register.path, read_only=True)
    try:
        return Counter(record.status for record in register.records())
    finally:
        register.close()


THREAD_LETTERS = 200  # the field report's failures came within 24 letters from 8 threads


def test_eight_threads_sharing_one_issuer_issue_many_b_lta_letters(
    lta_issuer: Issuer, lta_settings: Settings
) -> None:
    """200 letters, one in four a DOCX one: all issued, none voided, no thread hangs.

    Before, threads shared one validation context whose fetchers kept asyncio events of the
    event loop that made them: letters were voided ("bound to a different event loop") and a
    thread could wait for ever with its number reserved.
    """
    requests = [
        _request(DOCX if index % 4 == 0 else HTML, f"THREADS-{index:03d}")
        for index in range(THREAD_LETTERS)
    ]
    calls = [lambda request=request: lta_issuer.issue(request) for request in requests]
    # a deadline against hangs, not a speed target: it takes 100-150 s on 2 busy cores
    letters = _in_threads(calls, threads=8, seconds=600)
    assert [letter.outcome for letter in letters] == [IssueOutcome.ISSUED] * THREAD_LETTERS
    assert len({letter.letter_number for letter in letters}) == THREAD_LETTERS
    assert _statuses(lta_settings) == {LetterStatus.ISSUED: THREAD_LETTERS}


def _docgen_children() -> set[int]:
    """Processes whose parent is this one (forked children, LibreOffices it started)."""
    return {pid for pid, (_, parent, _) in _processes().items() if parent == os.getpid()}


def _libreoffices_of(pid: int) -> set[int]:
    """LibreOffice processes started by process ``pid``."""
    return {
        child
        for child, (name, parent, _) in _processes().items()
        if parent == pid and name.startswith("soffice")
    }


def test_an_issuer_warmed_before_a_fork_issues_html_and_docx_letters_in_the_children(
    lta_issuer: Issuer, lta_settings: Settings, tmp_path: Path
) -> None:
    """Two children forked from a warm parent issue both kinds of letter and end cleanly.

    Each child starts a LibreOffice of its own and stops it when it ends; the parent's keeps
    converting, and keeps its fonts. Before, a child's first DOCX letter waited for ever on the
    parent's launcher thread, which a fork does not copy.
    """
    lta_issuer.issue(_request(DOCX, "FORK-WARM-DOCX"))
    lta_issuer.issue(_request(HTML, "FORK-WARM-HTML"))
    parent_office = lta_issuer.renderer.converter.pid
    assert parent_office is not None
    # a request thread of the parent, warm (its own fonts) and alive while the children run
    warm, release = threading.Event(), threading.Event()

    def request_thread() -> None:
        lta_issuer.renderer.render_draft(HTML)
        warm.set()
        release.wait(60)

    threading.Thread(target=request_thread, daemon=True).start()
    assert warm.wait(60)
    fonts = sorted(process_temp_dir().glob("fonts-*"))
    assert len(fonts) >= 2
    before = _docgen_children()
    children = []
    for child in range(2):
        report = tmp_path / f"child-{child}.txt"
        pid = os.fork()
        if pid == 0:  # the child: issue, report, close the Issuer, end without pytest's exit
            status = 1
            try:
                lines = []
                for kind, template in (("DOCX", DOCX), ("HTML", HTML), ("DOCX2", DOCX)):
                    letter = lta_issuer.issue(_request(template, f"FORK-{child}-{kind}"))
                    lines.append(f"{letter.outcome.value} {letter.letter_number}")
                lines.append(f"office {lta_issuer.renderer.converter.pid}")
                lta_issuer.renderer.converter.close()  # what a worker's Issuer.close does
                report.write_text("\n".join(lines))
                status = 0
            finally:
                os._exit(status)
        children.append((pid, report))
    deadline = time.monotonic() + 120
    for pid, _ in children:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                assert os.waitstatus_to_exitcode(status) == 0
                break
            if time.monotonic() > deadline:
                for other, _ in children:
                    os.kill(other, signal.SIGKILL)
                pytest.fail("a forked child did not finish its letters in time")
            time.sleep(0.05)
    offices = set()
    for pid, report in children:
        *letters, office = report.read_text().splitlines()
        assert [line.split()[0] for line in letters] == ["issued"] * 3
        offices.add(int(office.split()[1]))
        assert _libreoffices_of(pid) == set()  # stopped with its child
    assert parent_office not in offices and len(offices) == 2
    assert _docgen_children() == before  # nothing left running
    # the children removed none of the parent's font folders (once, a fork removed those of
    # the parent's other threads)
    assert sorted(process_temp_dir().glob("fonts-*")) == fonts
    release.set()
    # the parent's LibreOffice was neither stopped nor disturbed by its children
    letter = lta_issuer.issue(_request(DOCX, "FORK-AFTER"))
    assert letter.outcome is IssueOutcome.ISSUED
    assert lta_issuer.renderer.converter.pid == parent_office
    assert _statuses(lta_settings) == {LetterStatus.ISSUED: 9}


def test_a_verifier_shared_by_threads_finds_every_letter_valid(
    issued: dict[str, IssuedLetter], verifier: Verifier
) -> None:
    """Eight threads verify letters through one Verifier (B-B ones are checked online)."""
    paths = [letter.path for letter in issued.values()] * 3
    calls = [lambda path=path: verifier.verify_file(path) for path in paths]
    reports = _in_threads(calls, threads=8, seconds=120)
    assert [report.verdict for report in reports] == [Verdict.VALID] * len(paths), [
        report.reasons for report in reports if not report.ok
    ]


def test_an_isolated_verifier_used_before_a_fork_verifies_in_the_child(
    issued: dict[str, IssuedLetter], issuing_settings: Settings, tmp_path: Path
) -> None:
    """A forked child starts a verification worker of its own; the parent's keeps serving."""
    letter = next(iter(issued.values())).path
    factory = functools.partial(Verifier.from_settings, issuing_settings)
    with IsolatedVerifier(factory, seconds=60, memory_mb=1024) as verifier:
        assert verifier.verify_file(letter).verdict is Verdict.VALID
        report = tmp_path / "child.txt"
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                report.write_text(verifier.verify_file(letter).verdict.value)
                verifier.close()
                status = 0
            finally:
                os._exit(status)
        deadline = time.monotonic() + 90
        while not (done := os.waitpid(pid, os.WNOHANG))[0]:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the forked child did not verify in time")
            time.sleep(0.05)
        assert os.waitstatus_to_exitcode(done[1]) == 0
        assert report.read_text() == Verdict.VALID.value
        assert verifier.verify_file(letter).verdict is Verdict.VALID
