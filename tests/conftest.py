"""Shared fixtures: one settings object, one catalogue, one warm renderer for the whole run.

The renderer owns the single LibreOffice process of the test run; it is started on the first
DOCX letter and stopped when the session ends.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import x509
from pyhanko.keys import load_certs_from_pemder

from docgen.catalogue import Catalogue
from docgen.config import HOME_ENV, HOME_SETTINGS, Settings
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import RenderedLetter, Renderer
from docgen.reports import IssuedLetter
from docgen.verify import Verifier
from scripts.demo_pki import DEMO_PKI, DemoPki, make_demo_pki, passphrase_for
from tests.helpers import EXAMPLE_FILES, load_request

_HOME: Path | None = None
_SERVICES: subprocess.Popen[bytes] | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Give the run a data folder of its own whose settings sign with the demo PKI.

    docgen has no default keys or trust roots; an operator names them in the data folder's
    docgen.toml, and so does the test run, before any test (or test module) loads settings.
    Subprocesses inherit it. The register and letters of embedded defaults land there too.
    """
    global _HOME
    _HOME = Path(tempfile.mkdtemp(prefix="tests-home-"))
    keys = "".join(
        f'[signing.keys.{code}]\npkcs12 = "{DEMO_PKI / f"signer-{code.lower()}.p12"}"\n'
        f'passphrase_file = "{DEMO_PKI / "passphrase"}"\n'
        for code in ("AGRO", "IKFT", "ILMATE")
    )
    trust = f'[verification]\ntrust = ["{DEMO_PKI / "root.cert.pem"}"]\n'
    (_HOME / HOME_SETTINGS).write_text(keys + trust, encoding="utf-8")
    os.environ[HOME_ENV] = str(_HOME)
    if not hasattr(config, "workerinput"):  # the run's first process, not a pytest-xdist worker
        global _SERVICES
        _SERVICES = _start_pki_services(make_demo_pki(DEMO_PKI, passphrase_for(DEMO_PKI)))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SERVICES is not None:
        _stop(_SERVICES)
    if _HOME is not None:
        shutil.rmtree(_HOME, ignore_errors=True)


# the longest test files, longest first (about 4, 2, 2 and 1.5 minutes)
_LONGEST = ("test_nodes.py", "test_concurrency.py", "test_batch.py", "test_batch_faults.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the longest test files first, the rest in their usual order.

    pytest-xdist hands whole files to its two processes in this order; started last, the
    longest files kept one process working alone for minutes at the end of the run.
    """
    order = {name: rank for rank, name in enumerate(_LONGEST)}
    items.sort(key=lambda item: order.get(item.path.name, len(order)))


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.load()


@pytest.fixture(scope="session")
def catalogue(settings: Settings) -> Catalogue:
    return Catalogue.load(settings.templates / "catalogue.toml")


@pytest.fixture(scope="session")
def renderer(settings: Settings, catalogue: Catalogue) -> Iterator[Renderer]:
    with Renderer(settings, catalogue) as shared:
        yield shared


@pytest.fixture(scope="session")
def drafts(renderer: Renderer) -> dict[str, RenderedLetter]:
    """Every bundled example rendered once as a draft, by file stem."""
    return {path.stem: renderer.render_draft(load_request(path)) for path in EXAMPLE_FILES}


@pytest.fixture(scope="session")
def pki() -> DemoPki:
    """The demo PKI the set-up made (made here if missing), shared by the whole run."""
    return make_demo_pki(DEMO_PKI, passphrase_for(DEMO_PKI))


@pytest.fixture(scope="session")
def issuing_settings(tmp_path_factory: pytest.TempPathFactory, pki: DemoPki) -> Settings:
    """Settings with a register (made here, on purpose) and output folder private to this run."""
    work = tmp_path_factory.mktemp("issuing")
    Register.create(work / "register.sqlite3").close()
    return Settings.load(
        letter_register={"path": str(work / "register.sqlite3")}, output=str(work / "letters")
    )


@pytest.fixture(scope="session")
def issuer(issuing_settings: Settings, renderer: Renderer) -> Iterator[Issuer]:
    """One issuer for the run, sharing the warm renderer."""
    with Issuer(issuing_settings, renderer=renderer) as shared:
        yield shared


@pytest.fixture(scope="session")
def issued(issuer: Issuer) -> dict[str, IssuedLetter]:
    """Every bundled example issued once, by file stem."""
    return {path.stem: issuer.issue(load_request(path)) for path in EXAMPLE_FILES}


@pytest.fixture(scope="session")
def verifier(issuing_settings: Settings, issuer: Issuer) -> Verifier:
    """A verifier with the demo trust root and the run's register."""
    return Verifier.from_settings(issuing_settings)


SERVICES_PORT = 9999  # the demo certificates point their OCSP, CRL and TSA addresses here
TSA_URL = f"http://127.0.0.1:{SERVICES_PORT}/docgen-demo/tsa/tsa"


def _answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


_PROBE = f"http://127.0.0.1:{SERVICES_PORT}/docgen-demo/crls/intermediate/latest.crl"


def _start_pki_services(pki: DemoPki) -> subprocess.Popen[bytes] | None:
    """Start the demo PKI's services (None: ones already running serve this very PKI)."""
    if _answering(_PROBE):
        served = f"http://127.0.0.1:{SERVICES_PORT}/docgen-demo/certs/root/ca.crt"
        with urllib.request.urlopen(served, timeout=5) as response:
            # certomancer signs its certificates afresh at each start (ECDSA signatures differ),
            # so compare what identifies the root: its name and key
            ours = next(iter(load_certs_from_pemder([str(pki.root_cert)])))
            theirs = x509.Certificate.load(response.read())
            if (theirs.subject, theirs.public_key.dump()) != (ours.subject, ours.public_key.dump()):
                raise RuntimeError(
                    f"port {SERVICES_PORT} serves another demo PKI; stop it before the tests"
                )
        return None
    command = [
        str(Path(sys.executable).with_name("certomancer")), "--config", str(pki.config),
        "--key-root", str(pki.key_dir), "animate", "--aiohttp",
        "--port", str(SERVICES_PORT), "--no-web-ui",
    ]  # fmt: skip
    service = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,  # a killed test run leaves no services running
    )
    deadline = time.monotonic() + 90
    while not _answering(_PROBE):
        if service.poll() is not None or time.monotonic() > deadline:
            _stop(service)
            raise RuntimeError("the demo PKI services did not start")
        time.sleep(0.3)
    return service


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _stop(service: subprocess.Popen[bytes]) -> None:
    service.terminate()
    try:
        service.wait(timeout=30)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()


@pytest.fixture(scope="session", autouse=True)
def pki_services() -> str:
    """The demo PKI's OCSP responder, CRLs and timestamping authority, live on loopback.

    certomancer serves them from certs/demo-pki.yml, started once for the whole run by its
    first process (with pytest-xdist, the controller: its workers share them) and stopped when
    the run ends. Every test may need them: verification checks a B-B letter's signer online,
    hard-fail.
    """
    if not _answering(_PROBE):
        raise RuntimeError("the demo PKI services of this test run are not answering")
    return TSA_URL


@pytest.fixture
def templates_copy(tmp_path: Path, settings: Settings) -> Path:
    """A private copy of the templates folder that a test may change."""
    target = tmp_path / "templates"
    shutil.copytree(settings.templates, target)
    return target
