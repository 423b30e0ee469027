"""docgen leaves no temporary file behind: not in ``$TMPDIR``, not in ``/tmp``.

Field-trial defect: each LibreOffice start left an ``lu*.tmp`` folder and a
``/tmp/OSL_PIPE_<uid>_SingleOfficeIPC_*`` socket, killed runs left ``docgen-lo-*`` folders, and
each batch worker left WeasyPrint's ``weasyprint-*`` font folder (1.6 MB). Each command here runs
in a subprocess with a ``$TMPDIR`` of its own, which must be empty afterwards; the socket files
of the LibreOffices it started (seen while it ran) must be gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from docgen.files import SHARED_FOLDER_LEASE
from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLES

HTML = [EXAMPLES / "ilmate-pertek-baja-approved.json", EXAMPLES / "agro-rekom-garam-approved.json"]
DOCX = [EXAMPLES / "ikft-pertek-ban-approved.json", EXAMPLES / "agro-rekom-gula-rejected.json"]


def _env(tmp: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DOCGEN_CONFIG"}
    env["TMPDIR"] = str(tmp)
    return env


def _config(work: Path) -> Path:
    config = work / "docgen.toml"
    config.write_text(
        f'output = "{work / "letters"}"\n[letter_register]\npath = "{work / "register.db"}"\n'
    )
    return config


def _libreoffices(pid: int) -> dict[int, set[Path]]:
    """The LibreOffices that process ``pid`` started, with the socket files they have bound."""
    found: dict[int, set[Path]] = {}
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return found
    for child in children:
        try:
            if child.name() == "soffice.bin":
                connections = child.net_connections(kind="unix")
                found[child.pid] = {Path(c.laddr) for c in connections if c.laddr}
        except psutil.Error:
            continue
    return found


class _Run:
    """A docgen command running in a subprocess (a session of its own), watched as it runs."""

    def __init__(self, tmp: Path, *args: str):
        self.sockets: set[Path] = set()
        self.libreoffices: set[int] = set()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "docgen", *args],
            env=_env(tmp),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def watch(self, until: Callable[[], bool], timeout: float = 240) -> None:
        """Record LibreOffice's sockets until ``until()`` or the end of the command."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            for pid, sockets in _libreoffices(self.process.pid).items():
                self.libreoffices.add(pid)
                self.sockets |= sockets
            if until():
                return
            time.sleep(0.05)

    def finish(self) -> str:
        """Wait for the end; its standard error (it must have succeeded)."""
        self.watch(lambda: False)
        _, errors = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, errors.decode()
        return errors.decode()

    def kill(self) -> None:
        """``kill -9`` the command and its workers (LibreOffice dies with its parent)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.communicate(timeout=60)


def _clean_run(tmp: Path, *args: str) -> set[Path]:
    run = _Run(tmp, *args)
    run.finish()
    return run.sockets


def _left(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("kind", ["html", "docx"])
def test_a_clean_render_leaves_nothing_behind(kind: str, tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    examples = HTML if kind == "html" else DOCX
    sockets = _clean_run(tmp, "render", *map(str, examples), "--out-dir", str(tmp_path / "drafts"))
    assert len(list((tmp_path / "drafts").glob("*.pdf"))) == 2
    assert _left(tmp) == []
    if kind == "docx":
        assert sockets, "LibreOffice was seen running, with its sockets in /tmp"
    assert not [s for s in sockets if s.exists()], "LibreOffice's sockets were removed"


def test_a_clean_issue_leaves_nothing_behind(tmp_path: Path, pki: DemoPki) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = _config(tmp_path)
    _clean_run(tmp, "--config", str(config), "register", "init")
    sockets = _clean_run(tmp, "--config", str(config), "issue", *map(str, HTML + DOCX))
    assert len(list((tmp_path / "letters").rglob("*.pdf"))) == 4
    assert _left(tmp) == []
    assert sockets and not [s for s in sockets if s.exists()]


@pytest.mark.parametrize("share", [True, False])
def test_a_clean_batch_leaves_nothing_behind(share: bool, tmp_path: Path, pki: DemoPki) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = _config(tmp_path)
    source = tmp_path / "today.jsonl"
    source.write_text("".join(json.dumps(json.loads(p.read_text())) + "\n" for p in HTML + DOCX))
    _clean_run(tmp, "--config", str(config), "register", "init")
    options = [] if share else ["--libreoffice-per-worker"]
    sockets = _clean_run(
        tmp, "--config", str(config), "batch", str(source), "--workers", "2", "--quiet", *options
    )
    assert len(list((tmp_path / "letters").rglob("*.pdf"))) == 4
    assert _left(tmp) == [], "no weasyprint-*, docgen-lo-* or lu*.tmp folder is left"
    assert sockets and not [s for s in sockets if s.exists()]


def _age(paths: list[Path], seconds: float) -> None:
    """Make files look ``seconds`` old: the grace periods docgen waits before judging them."""
    then = time.time() - seconds
    for path in paths:
        if path.exists():
            os.utime(path, (then, then), follow_symlinks=False)


@pytest.mark.parametrize("command", ["issue", "batch"])
def test_what_a_killed_run_leaves_is_removed_by_the_next_run(
    command: str, tmp_path: Path, pki: DemoPki
) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    config = _config(tmp_path)
    _clean_run(tmp, "--config", str(config), "register", "init")
    source = tmp_path / "docx.jsonl"
    source.write_text(json.dumps(json.loads(DOCX[0].read_text())) + "\n")
    args = ["issue", str(DOCX[0])] if command == "issue" else ["batch", str(source), "--quiet"]
    killed = _Run(tmp, "--config", str(config), *args)
    killed.watch(until=lambda: bool(killed.sockets))  # LibreOffice runs: kill -9 now
    assert killed.sockets, "LibreOffice was started"
    killed.kill()
    deadline = time.monotonic() + 30
    while any(psutil.pid_exists(pid) for pid in killed.libreoffices):
        assert time.monotonic() < deadline, "LibreOffice dies with docgen"
        time.sleep(0.1)
    left = _left(tmp)
    assert left, "the killed run left its temporary files"
    assert [s for s in killed.sockets if s.exists()], "and its LibreOffice's sockets"

    # time passes: the socket files and a batch's shared folder are judged only after a while
    _age(list(killed.sockets), 60)
    _age([p for p in tmp.rglob("*")], SHARED_FOLDER_LEASE + 60)
    _clean_run(tmp, "render", str(DOCX[1]), "-o", str(tmp_path / "draft.pdf"))
    assert _left(tmp) == [], f"left by the killed run: {left}"
    assert not [s for s in killed.sockets if s.exists()]


def test_a_live_runs_folders_are_never_removed(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # a live process's own folder (this one's: the test process is alive), and a shared folder
    # in use (a process works in it) though unchanged for longer than the lease
    live = tmp / f"docgen-{os.getpid()}-{_start_time(os.getpid())}-abcd1234"
    live.mkdir()
    shared = tmp / "docgen-lo-inuse123"
    shared.mkdir()
    (shared / "lock").touch()
    holder = subprocess.Popen(["sleep", "60"], cwd=shared)
    try:
        _age([shared / "lock", shared], SHARED_FOLDER_LEASE + 60)
        _clean_run(tmp, "render", str(HTML[0]), "-o", str(tmp_path / "draft.pdf"))
        assert live.is_dir() and shared.is_dir()
    finally:
        holder.kill()
        holder.wait()


def _start_time(pid: int) -> str:
    from docgen.files import process_start

    started = process_start(pid)
    assert started is not None
    return started
