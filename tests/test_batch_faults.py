"""Batch runs under faults: signals, a worker that dies, hostile input, a manifest that fails.

Every run here uses the real components. After each one the register, the manifest and the
letters on disk must agree, every request must be issued at most once, and no process of the
run may be left.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import psutil
import pytest
from click.testing import CliRunner

from docgen.batch import BatchRunner
from docgen.cli import main
from docgen.register import LetterRecord, LetterStatus, Register
from scripts.demo_pki import DemoPki
from tests.test_batch import (
    HTML_EXAMPLES,
    _batch_workers,
    _config,
    _csv_text,
    _processes,
    _request,
    _run_observed,
    _settings,
    _write_batch,
)

DOCGEN = Path(sys.executable).with_name("docgen")
# the command's own default for SIGINT, whatever this test run inherited (a test run started in
# the background ignores SIGINT, and its children would too)
_WITH_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


class _Batch:
    """``docgen batch`` in a process of its own, and every process it starts while it runs."""

    def __init__(self, tmp: Path, *args: str, stdin: bytes | None = None):
        self.tmp = tmp
        self._out: IO[bytes] = (tmp / "batch.out").open("w+b")
        self._err: IO[bytes] = (tmp / "batch.err").open("w+b")
        feed: IO[bytes] | int = subprocess.DEVNULL
        if stdin is not None:
            (tmp / "batch.in").write_bytes(stdin)
            feed = (tmp / "batch.in").open("rb")
        command = [str(DOCGEN), "--config", str(_config(tmp)), "batch", *args, "--quiet"]
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WITH_SIGINT, *command],
            stdin=feed,
            stdout=self._out,  # files, not pipes: a worker left behind must not block the test
            stderr=self._err,
            start_new_session=True,  # a process group of its own, as a shell job has
        )
        if not isinstance(feed, int):
            feed.close()
        self.main = psutil.Process(self.process.pid)
        self.seen: dict[int, psutil.Process] = {}
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, daemon=True)
        self._watcher.start()

    @property
    def pid(self) -> int:
        """The main process of the run."""
        return self.process.pid

    def _watch(self) -> None:
        while not self._done.is_set():
            with contextlib.suppress(psutil.Error):
                for child in self.main.children(recursive=True):
                    self.seen.setdefault(child.pid, child)
            time.sleep(0.02)

    def alive(self) -> list[psutil.Process]:
        """The processes of the run still running."""
        found = []
        for process in [*self.seen.values(), self.main]:
            with contextlib.suppress(psutil.Error):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    found.append(process)
        return found

    def libreoffice_running(self) -> bool:
        """Whether a LibreOffice started by the run is running."""
        return any(p.name() == "soffice.bin" for p in self.alive())

    def wait(self, timeout: float) -> int:
        """The main process's exit status; fails the test if it takes longer than ``timeout``."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the batch did not end within {timeout} s: {self.errors()}")

    def all_gone(self, since: float, timeout: float) -> float:
        """Seconds from ``since`` until every process of the run had ended (fails after
        ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                left = [(p.pid, p.name()) for p in self.alive()]
                pytest.fail(f"processes of the run still running {timeout} s later: {left}")
            time.sleep(0.02)
        self._done.set()
        return time.monotonic() - since

    def errors(self) -> str:
        """What the run wrote to standard error."""
        self._err.seek(0)
        return self._err.read().decode(errors="replace")

    def close(self) -> None:
        """Stop watching; end whatever the run left running (only the run's own processes)."""
        self._done.set()
        for process in self.alive():
            with contextlib.suppress(psutil.Error):
                process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self._out.close()
        self._err.close()


@pytest.fixture
def batches() -> Iterator[list[_Batch]]:
    """Runs started by a test; whatever a failing test left running is ended afterwards."""
    started: list[_Batch] = []
    yield started
    for run in started:
        run.close()


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def _register(tmp: Path) -> list[LetterRecord]:
    path = tmp / "register.sqlite3"
    if not path.exists():
        return []
    register = Register(path, read_only=True)
    try:
        return register.records()
    finally:
        register.close()


def _issued(tmp: Path) -> dict[str, LetterRecord]:
    issued = [r for r in _register(tmp) if r.status is LetterStatus.ISSUED]
    twice = [rid for rid, n in Counter(r.request_id for r in issued).items() if n > 1]
    assert not twice, f"issued more than once: {twice}"
    return {r.request_id: r for r in issued}


def _wait_for_rows(manifest: Path, count: int, run: _Batch, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not (manifest.exists() and len(manifest.read_bytes().splitlines()) >= count):
        if run.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the run did not reach {count} records: {run.errors()}")
        time.sleep(0.02)


def _assert_agree(tmp: Path, rows: list[dict[str, Any]], *, complete: bool = True) -> None:
    """The manifest, the register and the letters on disk tell the same story.

    ``complete``: every letter of the register is in the manifest, and no temporary file is
    left (a run that stopped cleanly); otherwise the register may hold letters the manifest
    could not record before the run was killed.
    """
    issued = _issued(tmp)
    for row in rows:
        if row["status"] in ("issued", "already_issued"):
            record = issued.get(row["request_id"])
            assert record is not None, f"in the manifest but not issued in the register: {row}"
            assert (row["letter_number"], row["path"], row["sha256"]) == (
                record.letter_number,
                record.pdf_path,
                record.pdf_sha256,
            )
    for record in issued.values():
        assert record.pdf_path is not None
        data = Path(record.pdf_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record.pdf_sha256, record.pdf_path
    letters = tmp / "letters"
    on_disk = {str(p) for p in letters.rglob("*.pdf")} if letters.exists() else set()
    assert on_disk == {r.pdf_path for r in issued.values()}, "a letter file the register lacks"
    if complete:
        recorded = {r["request_id"] for r in rows if r["status"] in ("issued", "already_issued")}
        assert recorded == set(issued), "the manifest lags behind the register"
        assert not list(letters.rglob("*.part")), "no temporary file is left"
        assert not [r for r in _register(tmp) if r.status is LetterStatus.RESERVED]


# ------------------------------------------------------------------ signals


@pytest.mark.parametrize(
    ("signum", "to_group", "twice", "status"),
    [
        (signal.SIGTERM, False, False, 143),
        (signal.SIGINT, True, False, 130),
        (signal.SIGTERM, False, True, 143),
    ],
    ids=["SIGTERM", "Ctrl-C", "SIGTERM-twice"],
)
def test_a_signal_stops_the_batch_promptly_and_cleanly(
    tmp_path: Path,
    pki: DemoPki,
    batches: list[_Batch],
    signum: signal.Signals,
    to_group: bool,
    twice: bool,
    status: int,
) -> None:
    source = tmp_path / "today.jsonl"
    _write_batch(source, 40, bad=False)
    manifest = tmp_path / "letters" / "manifest-today.jsonl"
    run = _Batch(tmp_path, str(source), "--workers", "2")
    batches.append(run)
    _wait_for_rows(manifest, 3, run)
    before = len(_issued(tmp_path))
    sent = time.monotonic()
    # a terminal's Ctrl-C reaches the whole process group; `kill PID` reaches the main process
    (os.killpg if to_group else os.kill)(run.pid, signum)
    if twice:  # the second signal, while the letters in progress are being finished
        time.sleep(0.2)
        os.kill(run.pid, signum)
    assert run.wait(timeout=60) == status, run.errors()
    exited = time.monotonic() - sent
    ended = run.all_gone(sent, timeout=30)
    after = len(_issued(tmp_path))
    rows = _rows(manifest)
    at_once = "stopped at once" in run.errors()
    print(
        f"\n{signum.name}{' twice' if twice else ''}: exit {status} {exited:.2f} s after the "
        f"signal, last process ended after {ended:.2f} s; {after - before} letters issued "
        f"after the signal, {len(rows)}/40 records in the manifest"
        + ("; stopped at once" if at_once else "")
    )
    assert after - before <= 2, "only the letters in progress (one per worker) are finished"
    assert len(rows) < 40, "the run stopped early"
    if not twice:
        assert not at_once, "one signal lets the letters in progress finish"
    # abandoned at once, a letter in progress may be in the register but not in the manifest
    _assert_agree(tmp_path, rows, complete=not at_once)
    time.sleep(0.5)
    assert len(_issued(tmp_path)) == after, "nothing is issued once the run has ended"
    assert "run the same command again" in run.errors()


def test_kill_9_of_the_batch_ends_its_workers_and_libreoffice_within_seconds(
    tmp_path: Path, pki: DemoPki, batches: list[_Batch]
) -> None:
    source = tmp_path / "today.jsonl"
    ids = _write_batch(source, 10, bad=False, docx_every=3)
    manifest = tmp_path / "letters" / "manifest-today.jsonl"
    run = _Batch(tmp_path, str(source), "--workers", "2")
    batches.append(run)
    _wait_for_rows(manifest, 2, run)
    deadline = time.monotonic() + 60
    while not run.libreoffice_running():
        assert time.monotonic() < deadline and run.process.poll() is None, run.errors()
        time.sleep(0.02)
    before = len(_issued(tmp_path))
    sent = time.monotonic()
    os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=10)
    ended = run.all_gone(sent, timeout=20)
    after = len(_issued(tmp_path))
    print(
        f"\nkill -9: last process (of {len(run.seen) + 1}, LibreOffice included) ended "
        f"{ended:.2f} s after; {after - before} letters issued after the kill"
    )
    assert ended < 5
    assert after - before <= 2, "at most the letters in progress were finished"
    time.sleep(1)
    assert len(_issued(tmp_path)) == after, "nothing is issued once the run has ended"
    _assert_agree(tmp_path, _rows(manifest), complete=False)

    rerun = _Batch(tmp_path, str(source), "--workers", "2")
    batches.append(rerun)
    assert rerun.wait(timeout=300) == 0, rerun.errors()
    rerun.all_gone(time.monotonic(), timeout=30)
    rows = _rows(manifest)
    assert sorted(row["request_id"] for row in rows) == sorted(ids)
    _assert_agree(tmp_path, rows)


# ------------------------------------------------------------------ a worker dies


@pytest.mark.parametrize("ordered", [False, True], ids=["default", "ordered"])
def test_a_worker_killed_mid_run_is_replaced_and_the_run_completes(
    tmp_path: Path, pki: DemoPki, ordered: bool
) -> None:
    source = tmp_path / "today.jsonl"
    ids = _write_batch(source, 10, bad=False)
    manifest = tmp_path / "manifest.jsonl"
    killed: list[int] = []

    def observe() -> None:
        if killed or not manifest.exists() or len(manifest.read_bytes().splitlines()) < 2:
            return
        workers = sorted(_batch_workers(_processes()))
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    runner = BatchRunner(_settings(tmp_path), workers=2, ordered=ordered)
    summary = _run_observed(runner, source, manifest, observe)
    assert killed, "a worker was killed during the run"
    rows = _rows(manifest)
    assert [row["request_id"] for row in rows] == ids, "the manifest is complete, in order"
    if ordered:  # the dead pool's records were numbered in their turn all the same
        last: dict[str, int] = {}
        for row in rows:
            record = _issued(tmp_path)[row["request_id"]]
            assert record.seq > last.get(record.series, 0), (row, last)
            last[record.series] = record.seq
    # a letter its dead worker had finished but not reported is found issued on the retry
    assert set(summary.counts) <= {"issued", "already_issued"}, summary.counts
    _assert_agree(tmp_path, rows)
    assert not _batch_workers(_processes()), "every worker ended"


# ------------------------------------------------------------------ hostile input


def test_a_json_line_that_is_not_utf8_is_one_invalid_record(
    tmp_path: Path, pki: DemoPki, batches: list[_Batch]
) -> None:
    lines = [json.dumps(_request(HTML_EXAMPLES[i], f"U-{i}")).encode() for i in range(3)]
    lines.insert(1, b'{"request_id": "U-BAD", "applicant": {"name": "PT \xff Baja"}}')
    source = tmp_path / "today.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")

    # from a file: counting the records raised UnicodeDecodeError before anything ran
    result = CliRunner().invoke(
        main, ["--config", str(_config(tmp_path)), "batch", str(source), "--dry-run"]
    )
    assert result.exit_code == 1, result.output
    assert "line 2: U-BAD" in result.output and "not UTF-8" in result.output
    assert "3 valid, 1 invalid" in result.output

    # from standard input: it stopped a real run midway, the manifest far behind the register
    run = _Batch(tmp_path, "-", "--workers", "1", stdin=source.read_bytes())
    batches.append(run)
    assert run.wait(timeout=120) == 1, run.errors()
    rows = _rows(tmp_path / "letters" / "manifest-stdin.jsonl")
    by_line = {row["position"]: row for row in rows}  # in the order they finished
    assert {line: row["status"] for line, row in by_line.items()} == {
        "line 1": "issued",
        "line 2": "invalid",
        "line 3": "issued",
        "line 4": "issued",
    }
    assert by_line["line 2"]["request_id"] == "U-BAD"
    assert "not UTF-8" in by_line["line 2"]["error"]
    _assert_agree(tmp_path, rows)
    assert "Traceback" not in run.errors()


def _long_cell_csv(path: Path) -> None:
    requests = [_request(HTML_EXAMPLES[i], f"C-{i}") for i in range(3)]
    requests[1]["applicant"]["address"] = "Jalan " + "x" * 200_000
    path.write_text(_csv_text(requests), "utf-8")


def test_an_overlong_csv_cell_is_one_invalid_record(
    tmp_path: Path, pki: DemoPki, batches: list[_Batch]
) -> None:
    source = tmp_path / "today.csv"
    _long_cell_csv(source)
    result = CliRunner().invoke(
        main, ["--config", str(_config(tmp_path)), "batch", str(source), "--dry-run"]
    )
    assert result.exit_code == 1, result.output
    assert "C-1" in result.output and "longer than 131,072 characters" in result.output
    assert "2 valid, 1 invalid" in result.output

    run = _Batch(tmp_path, "-", "--format", "csv", "--workers", "1", stdin=source.read_bytes())
    batches.append(run)
    assert run.wait(timeout=120) == 1, run.errors()
    rows = _rows(tmp_path / "letters" / "manifest-stdin.jsonl")
    by_id = {row["request_id"]: row for row in rows}  # in the order they finished
    assert {rid: row["status"] for rid, row in by_id.items()} == {
        "C-0": "issued",
        "C-1": "invalid",
        "C-2": "issued",
    }
    assert "longer than 131,072 characters" in by_id["C-1"]["error"]
    assert len(json.dumps(by_id["C-1"])) < 1000, "the error is short"
    _assert_agree(tmp_path, rows)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda h: h.replace("request_id", "request_number"), ["request_number", "request_id"]),
        (lambda h: h.replace("applicant.", "applicant_"), ["applicant_nib", "applicant.nib"]),
        (None, ["header"]),  # no header row at all: the first request's row is taken for it
    ],
    ids=["renamed", "underscores", "no-header"],
)
def test_a_csv_header_is_checked_before_anything_runs(
    tmp_path: Path, pki: DemoPki, change: Any, named: list[str]
) -> None:
    header, body = _csv_text(
        [_request(path, f"H-{i}") for i, path in enumerate(HTML_EXAMPLES)]
    ).split("\n", 1)
    source = tmp_path / "today.csv"
    source.write_text((change(header) + "\n" if change else "") + body, "utf-8")
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("the previous run's manifest\n")
    for extra in (["--dry-run"], ["--manifest", str(manifest)]):
        result = CliRunner().invoke(
            main, ["--config", str(_config(tmp_path)), "batch", str(source), *extra]
        )
        assert result.exit_code == 65, result.output
        assert len(result.output) < 800, result.output
        for name in named:
            assert name in result.output
    assert manifest.read_text() == "the previous run's manifest\n"
    assert not _register(tmp_path)


# ------------------------------------------------------------------ smaller ones


def test_a_batch_that_fails_at_start_leaves_the_previous_manifest(
    tmp_path: Path, pki: DemoPki
) -> None:
    source = tmp_path / "today.jsonl"
    _write_batch(source, 2, bad=False)
    config = _config(tmp_path, register=False)  # the register is missing: exit 74 at start
    manifest = tmp_path / "letters" / "manifest-today.jsonl"
    manifest.parent.mkdir()
    manifest.write_text("the previous run's manifest\n")
    result = CliRunner().invoke(
        main, ["--config", str(config), "batch", str(source), "--workers", "1"]
    )
    assert result.exit_code == 74, result.output
    assert "does not exist" in result.output
    assert manifest.read_text() == "the previous run's manifest\n"
    other = tmp_path / "letters" / "manifest-other.jsonl"
    result = CliRunner().invoke(
        main, ["--config", str(config), "batch", str(source), "--manifest", str(other)]
    )
    assert result.exit_code == 74, result.output
    assert not other.exists(), "no empty manifest is left where there was none"


def test_a_fifo_in_an_input_folder_is_refused_not_waited_for(tmp_path: Path) -> None:
    folder = tmp_path / "requests"
    folder.mkdir()
    for path in HTML_EXAMPLES[:2]:
        shutil.copy(path, folder / path.name)
    os.mkfifo(folder / "pipe.json")
    (folder / "folder.json").mkdir()
    # in a process of its own: reading the FIFO used to wait for a writer, for ever
    result = subprocess.run(
        [str(DOCGEN), "batch", str(folder), "--dry-run"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout.decode().count("not a regular file") == 2
    assert "file folder.json" in result.stdout.decode()
    assert "file pipe.json" in result.stdout.decode()
    assert b"2 valid, 2 invalid" in result.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 300 KB filesystem of its own (tmpfs), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_manifest_that_can_no_longer_be_written_stops_the_run(
    tmp_path: Path, pki: DemoPki, small_disk: Path
) -> None:
    source = tmp_path / "today.jsonl"
    _write_batch(source, 20, bad=False)  # a page of manifest holds 11 rows
    filler = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk, then leave a single page free
        with contextlib.suppress(OSError):
            while True:
                os.write(filler, b"\0" * 4096)
        os.ftruncate(filler, os.lseek(filler, 0, os.SEEK_CUR) - 4096)
    finally:
        os.close(filler)
    manifest = small_disk / "manifest.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "--config", str(_config(tmp_path)), "batch", str(source),
            "--workers", "2", "--manifest", str(manifest), "--quiet",
        ],
    )  # fmt: skip
    assert result.exit_code == 74, result.output
    assert "could not be written" in result.output and "Traceback" not in result.output
    rows = _rows(manifest)  # whole lines only
    assert 0 < len(rows) < 20
    _assert_agree(tmp_path, rows, complete=False)
    issued = _issued(tmp_path)
    unrecorded = set(issued) - {row["request_id"] for row in rows}
    print(f"\nfull disk: {len(rows)} rows written, {len(unrecorded)} letters issued after")
    # a letter already handed to a worker process cannot be recalled: those running (one per
    # worker) and those in the pool's call queue (up to one more per worker as they finish);
    # the window's other records were never started
    assert len(unrecorded) <= 2 * 2, "only the letters in progress when it failed were finished"
    for request_id in unrecorded:
        assert request_id in result.output, "a letter missing from the manifest is named"
    assert not _batch_workers(_processes()), "every worker ended"


def test_a_read_only_manifest_folder_is_a_clear_error_before_anything_runs(
    tmp_path: Path, pki: DemoPki, small_disk: Path
) -> None:
    source = tmp_path / "today.jsonl"
    _write_batch(source, 2, bad=False)
    manifest = small_disk / "manifest.jsonl"
    manifest.write_text("the previous run's manifest\n")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = CliRunner().invoke(
        main,
        ["--config", str(_config(tmp_path)), "batch", str(source), "--manifest", str(manifest)],
    )
    assert result.exit_code == 74, result.output
    assert "cannot be written" in result.output and str(manifest) in result.output
    assert manifest.read_text() == "the previous run's manifest\n"
    assert not _issued(tmp_path)
