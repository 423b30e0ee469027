"""Shared fixtures: one settings object, one catalogue, one warm renderer for the whole run.

The renderer owns the single LibreOffice process of the test run; it is started on the first
DOCX letter and stopped when the session ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from docgen.catalogue import Catalogue
from docgen.config import HOME_ENV, HOME_SETTINGS, Settings
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import RenderedLetter, Renderer
from docgen.reports import IssuedLetter
from docgen.verify import Verifier
from scripts.demo_pki import DEFAULT_CONFIG, DemoPki, make_demo_pki, passphrase_for
from scripts.pki_services import (
    answering,
    pki_on_port,
    services_url,
    start_pki_services,
    stop_process,
)
from tests.helpers import EXAMPLE_FILES, demo_officials, load_request

pytest_plugins = ["tests.browser"]  # the browser tests' fixtures: browser, page, artifacts

_HOME: Path | None = None
_SERVICES: subprocess.Popen[bytes] | None = None


_PKI_ENV = "DOCGEN_TEST_PKI"
"""The run's demo PKI folder, for pytest-xdist workers (they inherit the environment)."""
_PORT_ENV = "DOCGEN_TEST_PKI_PORT"
"""The port its services answer on."""
_RUN_PKI: Path | None = None
"""The run's demo PKI folder, in the process that made it (and removes it at the end)."""
_PKI: DemoPki | None = None
"""The run's demo PKI, in every process."""
_RUN_TMP: Path | None = None
"""The run's temporary folder (``TMPDIR`` of all its processes), in the process that made it."""


def pytest_configure(config: pytest.Config) -> None:
    """Give the run a demo PKI served on a free port, and a data folder whose settings use it.

    The run's first process (with pytest-xdist, the controller; its workers share them) makes
    a copy of the set-up's demo PKI whose certificates name a free port for their OCSP, CRL
    and timestamping addresses, and starts those services there: two test runs on one machine
    never meet. docgen has no default keys or trust roots; an operator names them in the data
    folder's docgen.toml, and so does each test process, before any test (or test module)
    loads settings. Subprocesses inherit it. The register and letters of embedded defaults
    land there too.
    """
    global _HOME, _RUN_PKI, _PKI, _SERVICES, _RUN_TMP
    if not hasattr(config, "workerinput"):
        # every temporary file of the run (its processes', LibreOffice's, Chromium's, those
        # that processes killed on purpose leave) in one folder, removed when the run ends;
        # pytest's own tmp_path folders stay where pytest keeps them, for a failure's evidence
        os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
        _RUN_TMP = Path(tempfile.mkdtemp(prefix="tests-run-"))
        # others may pass through (not list): the test PostgreSQL server runs as nobody, in a
        # folder of its own under this one
        _RUN_TMP.chmod(0o711)
        os.environ["TMPDIR"] = str(_RUN_TMP)
        tempfile.tempdir = None  # asked again: the run's folder from now on
        _RUN_PKI = Path(tempfile.mkdtemp(prefix="tests-pki-"))
        port = _free_port()
        os.environ[_PKI_ENV], os.environ[_PORT_ENV] = str(_RUN_PKI), str(port)
        pki = _PKI = pki_on_port(_RUN_PKI, port)
        _SERVICES = start_pki_services(pki, port)
    else:  # a pytest-xdist worker: the controller made it
        folder = Path(os.environ[_PKI_ENV])
        pki = _PKI = make_demo_pki(
            folder, passphrase_for(folder), config=folder / DEFAULT_CONFIG.name
        )
    passphrase = Path(os.environ[_PKI_ENV]) / "passphrase"
    _HOME = Path(tempfile.mkdtemp(prefix="tests-home-"))
    keys = "".join(
        f'[signing.keys.{code}]\npkcs12 = "{pki.p12[f"signer-{code.lower()}"]}"\n'
        f'passphrase_file = "{passphrase}"\n'
        for code in ("AGRO", "IKFT", "ILMATE")
    )
    trust = f'[verification]\ntrust = ["{pki.root_cert}"]\n[verification.signers]\n' + "".join(
        f'{code} = ["{pki.certs[f"signer-{code.lower()}"]}"]\n'
        for code in ("AGRO", "IKFT", "ILMATE")
    )
    (_HOME / HOME_SETTINGS).write_text(keys + demo_officials() + trust, encoding="utf-8")
    os.environ[HOME_ENV] = str(_HOME)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _SERVICES is not None:
        stop_process(_SERVICES)
    for folder in (_HOME, _RUN_PKI, _RUN_TMP):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
    """The run's demo PKI: the set-up's keys, certificates naming the run's services' port."""
    assert _PKI is not None, "made when the run was configured"
    return _PKI


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


@pytest.fixture(scope="session", autouse=True)
def pki_services() -> str:
    """The run's demo PKI services, live on loopback: the timestamping authority's address.

    certomancer serves them, started once for the whole run by its first process (with
    pytest-xdist, the controller: its workers share them) and stopped when the run ends. Every
    test may need them: verification checks a B-B letter's signer online, hard-fail.
    """
    port = int(os.environ[_PORT_ENV])
    if not answering(services_url(port, "crls/intermediate/latest.crl")):
        raise RuntimeError("the demo PKI services of this test run are not answering")
    return services_url(port, "tsa/tsa")


@pytest.fixture
def templates_copy(tmp_path: Path, settings: Settings) -> Path:
    """A private copy of the templates folder that a test may change."""
    target = tmp_path / "templates"
    shutil.copytree(settings.templates, target)
    return target
