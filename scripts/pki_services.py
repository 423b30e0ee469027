"""The demo PKI's live services (OCSP, CRLs, timestamping) on a port of a run's own.

The demo serves the PKI in certs/generated/ on port 9999 (scripts/pki-services.sh). A test run
or a benchmark instead copies it (its keys and passphrase) with certificates naming a free
port, and serves that copy there, so that runs never use or disturb each other's services.
certomancer serves them; it ends with the process that started it, even one killed. Example::

    pki = pki_on_port(folder, port)
    services = start_pki_services(pki, port)
    try:
        ...  # services_url(port, "tsa/tsa") is the timestamping authority
    finally:
        stop_process(services)
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from docgen.lifetime import die_with_parent
from scripts.demo_pki import DEFAULT_CONFIG, DEMO_PKI, DemoPki, make_demo_pki, passphrase_for

__all__ = ["answering", "pki_on_port", "services_url", "start_pki_services", "stop_process"]

_DEMO_PREFIX = 'external-url-prefix: "http://127.0.0.1:9999"'


def pki_on_port(folder: Path, port: int) -> DemoPki:
    """A copy in ``folder`` of the set-up's demo PKI, its certificates naming ``port``."""
    made = make_demo_pki(DEMO_PKI, passphrase_for(DEMO_PKI))
    shutil.copytree(made.key_dir, folder / "keys")
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    if _DEMO_PREFIX not in text:
        raise RuntimeError(f"{DEFAULT_CONFIG} no longer names its services as expected")
    config = folder / DEFAULT_CONFIG.name
    config.write_text(
        text.replace(_DEMO_PREFIX, _DEMO_PREFIX.replace("9999", str(port))), encoding="utf-8"
    )
    passphrase = folder / "passphrase"
    passphrase.touch(mode=0o600)  # private before the passphrase is in it
    passphrase.write_bytes((DEMO_PKI / "passphrase").read_bytes())
    return make_demo_pki(folder, passphrase_for(folder), config=config)


def services_url(port: int, path: str) -> str:
    """The address of one of the services on ``port`` (``tsa/tsa``, ``crls/...``)."""
    return f"http://127.0.0.1:{port}/docgen-demo/{path}"


def answering(url: str) -> bool:
    """Whether ``url`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_pki_services(pki: DemoPki, port: int, *, timeout: float = 90) -> subprocess.Popen[bytes]:
    """Serve the PKI's OCSP responder, CRLs and timestamping authority on ``port``.

    Returns once they answer; raises :class:`RuntimeError` when they do not within ``timeout``
    seconds. They end with the calling process, even when it is killed.
    """
    command = [
        str(Path(sys.executable).with_name("certomancer")), "--config", str(pki.config),
        "--key-root", str(pki.key_dir), "animate", "--aiohttp",
        "--port", str(port), "--no-web-ui",
    ]  # fmt: skip
    service = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: die_with_parent(signal.SIGTERM),
    )
    probe = services_url(port, "crls/intermediate/latest.crl")
    deadline = time.monotonic() + timeout
    while not answering(probe):
        if service.poll() is not None or time.monotonic() > deadline:
            stop_process(service)
            raise RuntimeError(f"the demo PKI services did not start on port {port}")
        time.sleep(0.3)
    return service


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process: SIGTERM, then SIGKILL after 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
