"""A verification site for tests: a register with letters in known states, served by
``docgen serve`` on a free loopback port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from docgen.config import Settings
from docgen.lifetime import die_with_parent
from docgen.models import LetterRequest
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from docgen.reports import IssuedLetter
from scripts.pki_services import stop_process
from tests.helpers import EXAMPLES, load_request

HTML_EXAMPLE = EXAMPLES / "ilmate-pertek-baja-approved.json"
REVOCATION_REASON = "Izin usaha pemohon dicabut"


def free_port() -> int:
    """A loopback port free at the moment of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Letters:
    """The site's register and its letters: one valid, one revoked, one hostile-named."""

    config: Path
    settings: Settings
    valid: IssuedLetter
    revoked: IssuedLetter
    hostile: IssuedLetter


def variant(request_id: str, **changes: object) -> LetterRequest:
    """The HTML example under another request id, with top-level or applicant changes."""
    data = json.loads(HTML_EXAMPLE.read_text("utf-8"))
    data["request_id"] = request_id
    for key, value in changes.items():
        if key.startswith("applicant_"):
            data["applicant"][key.removeprefix("applicant_")] = value
        else:
            data[key] = value
    return LetterRequest.from_mapping(data)


def issue_letters(
    folder: Path, port: int, renderer: Renderer, timestamps: str, **web: object
) -> Letters:
    """A register in ``folder`` with three B-LTA letters whose QR codes lead to ``port``.

    ``timestamps`` is the timestamping authority's address; ``web`` are ``[web]`` settings.
    """
    register = folder / "register.sqlite3"
    config = folder / "docgen.toml"
    lines = [
        f'output = "{folder / "letters"}"',
        "[letter_register]",
        f'path = "{register}"',
        "[signing]",
        f'timestamp_url = "{timestamps}"',
        "[esign]",
        f'verification_base_url = "http://127.0.0.1:{port}/surat/"',
        "[web]",
        *(
            f"{key} = {json.dumps(value)}"
            for key, value in {
                "time_budget_seconds": 20.0,
                "uploads_per_minute": 100000,
                **web,
            }.items()
        ),
    ]
    config.write_text("\n".join(lines) + "\n", "utf-8")
    Register.create(register).close()
    settings = Settings.load(config)

    def issue() -> Letters:
        with Issuer(settings, renderer=renderer) as issuer:
            valid = issuer.issue(load_request(HTML_EXAMPLE))
            revoked = issuer.issue(variant("WEB-REVOKED-1"))
            hostile = issuer.issue(
                variant("WEB-HOSTILE-1", applicant_name='PT <script>alert(1)</script> & "Co"')
            )
            issuer.register.revoke(revoked.letter_number, REVOCATION_REASON)
        return Letters(config, settings, valid, revoked, hostile)

    # in a thread of its own: signing runs event loops, which a thread already running one
    # (Playwright's, in the browser tests) cannot
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(issue).result()


@contextmanager
def served(
    config: Path, port: int, *, workers: int = 1, verbose: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """``docgen serve`` on ``port`` until the block ends; ready (``/readyz``) when it begins."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "docgen", "--config", str(config)),
            *(["--verbose"] if verbose else []),
            "serve",
            *("--port", str(port), "--workers", str(workers)),
        ],
        preexec_fn=die_with_parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=30).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                error = process.stderr.read().decode() if process.stderr else ""
                raise AssertionError(f"docgen serve did not become ready: {error}")
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            stop_process(process)
        if process.stderr:
            process.stderr.close()


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    return [child.pid for child in psutil.Process(pid).children()]


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, renderer: Renderer, pki_services: str
) -> Iterator[tuple[str, Letters]]:
    """A test module's site: its letters, served by ``docgen serve``; its base address."""
    port = free_port()
    letters = issue_letters(tmp_path_factory.mktemp("web"), port, renderer, pki_services)
    with served(letters.config, port):
        yield f"http://127.0.0.1:{port}", letters
