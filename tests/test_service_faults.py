"""A timestamping authority that misbehaves: garbage, a trickle, an HTTP error, a reset.

Each fault must end the same way, soon: :class:`ServiceUnavailable` (exit 69, retryable) after
``signing.retries`` more tries, within (retries + 1) × timeout and a small margin, with a short
message, the letter's number voided and no file written.
"""

from __future__ import annotations

import http.server
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from docgen.errors import ServiceUnavailable
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from tests.helpers import EXAMPLES, load_request
from tests.test_levels import STEMS, _settings

TIMEOUT = 2.0  # above the trickle's one second, so only a deadline on the whole request ends it
RETRIES = 1
MARGIN = 3.0  # rendering the letter, the pause between tries, thread start-up
TRICKLE_FOR = 15.0  # the trickle gives up by itself, so a client without a deadline ends too

REQUEST = EXAMPLES / f"{STEMS['html']}.json"

# fault: what the message must name, so an operator can tell one fault from another
SAYS = {
    "garbage": "not a valid timestamp reply",
    "trickle": f"no complete answer within {TIMEOUT:g} s",
    "error": "HTTP 500",
    "reset": "Connection reset",
}


class _FaultServer(http.server.ThreadingHTTPServer):
    """A timestamping authority that answers every request with ``fault``, and counts them."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _FaultHandler)
        self.fault = "garbage"
        self.requests = 0
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        """Where it listens."""
        return f"http://127.0.0.1:{self.server_address[1]}/tsa"


class _FaultHandler(http.server.BaseHTTPRequestHandler):
    server: _FaultServer

    def log_message(self, format: str, *args: object) -> None:
        pass  # the test output is no place for an access log

    def do_POST(self) -> None:
        self.server.requests += 1
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.close_connection = True
        fault = self.server.fault
        if fault == "garbage":
            # the field trial's answer: a length prefix claiming a 170-digit number of bytes
            body = random.Random(6350).randbytes(512)
            self._head(200, "application/timestamp-reply", len(body))
            self.wfile.write(body)
        elif fault == "trickle":
            self._head(200, "application/timestamp-reply", 4096)
            ends = time.monotonic() + TRICKLE_FOR
            try:
                while time.monotonic() < ends and not self.server.stopping.wait(1.0):
                    self.wfile.write(b"\x30")
                    self.wfile.flush()
            except OSError:
                pass  # the client gave up: what it should do
        elif fault == "error":
            body = b"Internal Server Error"
            self._head(500, "text/plain", len(body))
            self.wfile.write(body)
        else:  # reset: a zero linger time makes close() send RST, not FIN
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _head(self, status: int, content_type: str, length: int) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()


@pytest.fixture
def faulty_tsa() -> Iterator[_FaultServer]:
    """The fault-injecting authority, on a free loopback port; stopped after the test."""
    server = _FaultServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("fault", sorted(SAYS))
def test_a_misbehaving_timestamping_authority_is_a_bounded_retried_service_failure(
    fault: str, tmp_path: Path, renderer: Renderer, faulty_tsa: _FaultServer
) -> None:
    faulty_tsa.fault = fault
    settings = _settings(
        tmp_path,
        level="B-T",
        timestamp_url=faulty_tsa.url,
        timeout_seconds=TIMEOUT,
        retries=RETRIES,
    )
    with Issuer(settings, renderer=renderer) as issuer:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            issuer.issue(load_request(REQUEST))
        waited = time.monotonic() - started
        (record,) = issuer.register.records()
    message = str(caught.value)
    assert waited < (RETRIES + 1) * TIMEOUT + MARGIN, f"waited {waited:.1f} s"
    assert faulty_tsa.requests == RETRIES + 1, "tried once, then signing.retries more times"
    assert caught.value.retryable and caught.value.exit_code == 69
    assert len(message) < 300, message
    assert "timestamping authority" in message and f"tried {RETRIES + 1} times" in message
    assert SAYS[fault] in message, message
    assert record.status.value == "void"
    assert not list(tmp_path.rglob("*.pdf*")), "nothing is written"


def test_garbage_from_the_authority_exits_69_through_the_command(
    tmp_path: Path, faulty_tsa: _FaultServer
) -> None:
    from click.testing import CliRunner

    from docgen.cli import main

    config = tmp_path / "docgen.toml"
    config.write_text(
        f'output = "{tmp_path / "letters"}"\n'
        f'[letter_register]\npath = "{tmp_path / "register.sqlite3"}"\n'
        f'[signing]\nlevel = "B-T"\ntimestamp_url = "{faulty_tsa.url}"\n'
        f"timeout_seconds = {TIMEOUT}\nretries = {RETRIES}\n"
    )
    Register.create(tmp_path / "register.sqlite3").close()
    result = CliRunner().invoke(main, ["--config", str(config), "issue", str(REQUEST)])
    assert result.exit_code == 69, result.output
    assert "not a valid timestamp reply" in result.output
    assert max(len(line) for line in result.output.splitlines()) < 300, result.output
    assert not list(tmp_path.rglob("*.pdf*"))
