"""The web portal's integration: tests/portal_app.py under uvicorn with two worker processes.

Each worker builds one Issuer and shares it between the requests it serves in its thread pool;
both issue into one register. Requests arrive from eight client threads at once, some of them
the same request twice: each request is issued once, the numbers have no gap, every letter
verifies, and stopping the server ends every process it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from docgen.config import Settings
from docgen.register import LetterStatus, Register
from docgen.reports import Verdict
from docgen.verify import Verifier
from tests.helpers import EXAMPLES, ROOT

HTML = EXAMPLES / "ilmate-pertek-baja-approved.json"
DOCX = EXAMPLES / "ikft-pertek-ban-approved.json"


class _Portal:
    """uvicorn serving the portal on a Unix socket of its own (no port to collide on)."""

    def __init__(self, tmp: Path, config: Path):
        self.socket = tmp / "portal.sock"
        self.log = (tmp / "portal.log").open("w+b")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "tests.portal_app:app",
                "--workers",
                "2",
                "--uds",
                str(self.socket),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**os.environ, "DOCGEN_CONFIG": str(config)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes: dict[int, psutil.Process] = {}

    def wait_ready(self, timeout: float = 120) -> None:
        """Until both workers have answered (each serves only once its Issuer is built)."""
        answered: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(answered) < 2:
            if self.process.poll() is not None:
                pytest.fail(f"the portal ended: {self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the portal did not start within {timeout} s: {self.output()}")
            self.remember()
            time.sleep(0.05)
            answered.update(self._health())

    def _health(self) -> set[int]:
        """The worker that answers GET /health on a new connection; none while starting.

        Plain sockets, not httpx: httpx leaks the socket of a connection that fails.
        """
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(10)
            try:
                connection.connect(str(self.socket))
                connection.sendall(b"GET /health HTTP/1.0\r\nHost: portal\r\n\r\n")
                answer = b"".join(iter(lambda: connection.recv(65536), b""))
            except OSError:
                return set()
        head, _, body = answer.partition(b"\r\n\r\n")
        return {json.loads(body)["worker"]} if head.startswith(b"HTTP/1.1 200") else set()

    def remember(self) -> None:
        """Note every process the server has started, to check later that each one ended."""
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                self.processes.setdefault(child.pid, child)

    def call(self, method: str, path: str, body: bytes = b"") -> httpx.Response:
        """One request on a connection of its own: a kept-alive connection would always reach
        the same worker."""
        transport = httpx.HTTPTransport(uds=str(self.socket))
        with httpx.Client(transport=transport, base_url="http://portal", timeout=120) as client:
            return client.request(method, path, content=body)

    def post(self, request: dict[str, Any]) -> httpx.Response:
        """Send one letter request."""
        return self.call("POST", "/letters", json.dumps(request).encode())

    def output(self) -> str:
        """What the server printed."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM, as a service manager stops it; every process it started must end."""
        self.remember()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout)
        finally:
            # the workers and their helpers end as the server does: give them a moment
            deadline = time.monotonic() + 15
            while any(_running(p) for p in self.processes.values()):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            left = [p for p in self.processes.values() if _running(p)]
            for process in left:
                process.kill()
            self.log.close()
        assert not left, f"still running after the server stopped: {left}"


def _running(process: psutil.Process) -> bool:
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


@pytest.fixture
def portal(tmp_path: Path, issuing_settings: Settings) -> Iterator[tuple[_Portal, Path]]:
    register = tmp_path / "register.sqlite3"
    Register.create(register).close()
    keys = {
        code: key.model_dump(mode="json", exclude_none=True)
        for code, key in issuing_settings.signing.keys.items()
    }
    config = tmp_path / "portal.toml"
    lines = [
        f'output = "{tmp_path / "letters"}"',
        "[letter_register]",
        f'path = "{register}"',
    ]
    for code, key in keys.items():
        lines.append(f"[signing.keys.{code}]")
        lines.extend(f"{name} = {json.dumps(value)}" for name, value in key.items())
    config.write_text("\n".join(lines) + "\n", "utf-8")
    server = _Portal(tmp_path, config)
    try:
        server.wait_ready()
        yield server, register
    finally:
        server.stop()


def _request(path: Path, request_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    data["request_id"] = request_id
    return data


def test_two_workers_issue_each_request_once_through_shared_issuers(
    portal: tuple[_Portal, Path], issuing_settings: Settings
) -> None:
    server, register = portal
    distinct = [_request(DOCX if i % 8 == 0 else HTML, f"PORTAL-{i:02d}") for i in range(24)]
    repeated = distinct[:6]  # a user pressing "issue" twice, the second at once
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(server.post, distinct + repeated, timeout=240))
    assert [a.status_code for a in answers] == [200] * len(answers), [
        a.text for a in answers if a.status_code != 200
    ]
    letters = [a.json() for a in answers]
    first = {letter["request_id"]: letter for letter in letters[: len(distinct)]}
    for again in letters[len(distinct) :]:
        assert again["letter_number"] == first[again["request_id"]]["letter_number"]
    assert len({letter["worker"] for letter in letters}) == 2, "both workers issued letters"

    opened = Register(register, read_only=True)
    try:
        records = opened.records()
    finally:
        opened.close()
    assert sorted(r.request_id for r in records) == sorted(first)
    assert {r.status for r in records} == {LetterStatus.ISSUED}
    by_series: dict[str, list[int]] = {}
    for record in records:
        by_series.setdefault(record.series, []).append(record.seq)
    assert all(sorted(s) == list(range(1, len(s) + 1)) for s in by_series.values())

    verifier = Verifier.from_settings(Settings.load(letter_register={"path": str(register)}))
    for letter in first.values():
        report = verifier.verify(Path(letter["path"]).read_bytes())
        assert report.verdict is Verdict.VALID, report
