"""Verification in a worker process: a time and memory budget per file, and no orphans.

The budgets are exercised with verifiers of our own that overrun them on purpose (a slow one and
a hungry one): building a real PDF that takes minutes to parse would take minutes too. The real
Verifier runs in the same worker for genuine letters, before and after a worker was killed.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from docgen.config import Settings
from docgen.reports import IssuedLetter, Verdict, VerificationReport
from docgen.verify import IsolatedVerifier, Verifier
from tests.helpers import ROOT

STEM = "ilmate-pertek-baja-approved"


class SlowVerifier(Verifier):
    """Takes ten seconds over every file: a file built to stall a parser."""

    def verify(self, data: bytes, *, name: str = "<bytes>") -> VerificationReport:
        if data == b"slow":
            time.sleep(10)
        return super().verify(data, name=name)


class HungryVerifier(Verifier):
    """Asks for far more memory than any budget: a decompression bomb."""

    def verify(self, data: bytes, *, name: str = "<bytes>") -> VerificationReport:
        hoard = bytearray(8 * 1024 * 1024 * 1024)
        return super().verify(bytes(hoard[:1]), name=name)


def _factory(kind: type[Verifier], settings: Settings) -> Verifier:
    return kind([*settings.verification.trust])


def test_a_file_over_the_time_budget_is_unchecked_and_the_next_file_is_verified(
    settings: Settings, issued: dict[str, IssuedLetter]
) -> None:
    factory = functools.partial(_factory, SlowVerifier, settings)
    genuine = issued[STEM].path.read_bytes()
    with IsolatedVerifier(factory, seconds=2, memory_mb=1024) as verifier:
        started = time.monotonic()
        report = verifier.verify(b"slow", name="stall.pdf")
        elapsed = time.monotonic() - started
        assert report.verdict is Verdict.UNCHECKED
        assert [check.name for check in report.checks] == ["budget"]
        assert "longer than 2 s" in report.checks[0].detail
        assert elapsed < 6, f"the budget of 2 s took {elapsed:.1f} s to enforce"
        # a fresh worker takes the next file
        after = verifier.verify(genuine, name="letter.pdf")
    assert after.verdict is not Verdict.INVALID, after.reasons
    assert any(check.name == "signature" and check.passed for check in after.checks)


def test_a_file_over_the_memory_budget_is_unchecked(settings: Settings) -> None:
    factory = functools.partial(_factory, HungryVerifier, settings)
    with IsolatedVerifier(factory, seconds=30, memory_mb=256) as verifier:
        report = verifier.verify(b"%PDF-bomb", name="bomb.pdf")
    assert report.verdict is Verdict.UNCHECKED
    assert report.checks[0].name == "budget"
    assert "memory" in report.checks[0].detail


def test_the_real_verifier_in_a_worker_gives_the_same_report_as_in_process(
    settings: Settings, issued: dict[str, IssuedLetter]
) -> None:
    path = issued[STEM].path
    factory = functools.partial(Verifier.from_settings, settings, use_register=False)
    with IsolatedVerifier(factory, seconds=60, memory_mb=1024) as verifier:
        isolated = verifier.verify_file(path)
    direct = Verifier.from_settings(settings, use_register=False).verify_file(path)
    assert isolated.verdict is Verdict.VALID, isolated.reasons
    assert [(c.name, c.passed) for c in isolated.checks] == [
        (c.name, c.passed) for c in direct.checks
    ]


WORKER_SCRIPT = """
import functools, sys, time
from docgen.config import Settings
from docgen.verify import IsolatedVerifier, Verifier
factory = functools.partial(Verifier.from_settings, Settings.load(), use_register=False)
verifier = IsolatedVerifier(factory, seconds=60, memory_mb=1024)
verifier.verify(b"not a pdf")
print("ready", flush=True)
time.sleep(600)
"""


def test_the_worker_ends_when_its_parent_is_killed() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT], stdout=subprocess.PIPE, cwd=ROOT, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            assert parent.stdout.readline().strip() == "ready"
            workers = psutil.Process(parent.pid).children()
            assert workers, "no worker process was started"
            os.kill(parent.pid, signal.SIGKILL)
            parent.wait(timeout=10)
            _, alive = psutil.wait_procs(workers, timeout=5)
            assert not alive, f"workers outlived their parent: {alive}"
        finally:
            if parent.poll() is None:
                parent.kill()


def test_a_fifo_is_refused_without_waiting(settings: Settings, tmp_path: Path) -> None:
    fifo = tmp_path / "letter.pdf"
    os.mkfifo(fifo)
    factory = functools.partial(Verifier.from_settings, settings, use_register=False)
    with IsolatedVerifier(factory, seconds=60, memory_mb=1024) as verifier:
        report = verifier.verify_file(fifo)
    assert report.verdict is Verdict.UNCHECKED
    assert "not a regular file" in report.checks[0].detail


def test_a_file_over_the_size_limit_is_refused_unread(settings: Settings, tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + b"0" * 1000)
    factory = functools.partial(Verifier.from_settings, settings, use_register=False)
    with IsolatedVerifier(factory, seconds=60, memory_mb=1024, max_file_bytes=1000) as verifier:
        report = verifier.verify_file(big)
    assert report.verdict is Verdict.UNCHECKED
    assert "larger than the limit" in report.checks[0].detail
