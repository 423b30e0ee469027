"""Freshly issued letters to forge: B-B and B-LTA, HTML path and DOCX path, issued once a run.

The B-B letters are the session's own (``issued``, verified by ``verifier`` with the session's
register). The B-LTA letters are issued here into a register of their own, with the session's
timestamping authority. Each :class:`Letter` carries the verifier whose register knows it, so a
forgery of it passes the register check and only the signature checks can catch it.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docgen.archive import Archiver
from docgen.config import KeySettings, Settings
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from docgen.reports import Check, IssuedLetter, Verdict, VerificationReport
from docgen.sign import open_backend
from docgen.verify import Verifier
from scripts.demo_pki import DemoPki
from tests.helpers import EXAMPLES, load_request

PATHS = {"html": "ilmate-pertek-baja-approved", "docx": "ikft-pertek-ban-approved"}
"""The two rendering paths and the example each is tested with."""
LETTERS = ["B-B-html", "B-B-docx", "B-LTA-html", "B-LTA-docx"]
"""Every letter a forgery is built from, by key."""
TWO_LETTERS = ["B-B-html", "B-LTA-docx"]
"""One letter of each level and each rendering path, for tests whose cost is in verification."""
SIGNATURE_CHECKS = ("signature", "integrity", "coverage", "structure")
"""Checks of which at least one must fail for a broken signature dictionary."""


@dataclass(frozen=True)
class Letter:
    """A genuine letter to forge, and the verifier that knows it."""

    key: str
    """``B-B-html`` ..."""
    level: str
    """``B-B`` or ``B-LTA``."""
    path: str
    """``html`` (cross-reference streams) or ``docx`` (classic tables)."""
    data: bytes
    """The signed file, as issued."""
    verifier: Verifier
    """A verifier with the demo trust root and the register the letter was issued into."""
    settings: Settings
    """The settings of that register."""


@pytest.fixture(scope="session")
def lta_settings(tmp_path_factory: pytest.TempPathFactory, pki_services: str) -> Settings:
    """B-LTA settings with a register private to the attack tests."""
    work = tmp_path_factory.mktemp("attacks-lta")
    Register.create(work / "register.sqlite3").close()
    return Settings.load(
        letter_register={"path": str(work / "register.sqlite3")},
        output=str(work / "letters"),
        signing={"level": "B-LTA", "timestamp_url": pki_services},
    )


@pytest.fixture(scope="session")
def lta_issued(lta_settings: Settings, renderer: Renderer) -> dict[str, IssuedLetter]:
    """Both reference examples issued at B-LTA, by path."""
    with Issuer(lta_settings, renderer=renderer) as issuer:
        return {
            path: issuer.issue(load_request(EXAMPLES / f"{stem}.json"))
            for path, stem in PATHS.items()
        }


@pytest.fixture(scope="session")
def letters(
    issued: dict[str, IssuedLetter],
    verifier: Verifier,
    issuing_settings: Settings,
    lta_issued: dict[str, IssuedLetter],
    lta_settings: Settings,
) -> dict[str, Letter]:
    """Every letter to forge, by key."""
    lta_verifier = Verifier.from_settings(lta_settings)
    found = {}
    for path, stem in PATHS.items():
        found[f"B-B-{path}"] = Letter(
            f"B-B-{path}", "B-B", path, issued[stem].path.read_bytes(), verifier, issuing_settings
        )
        found[f"B-LTA-{path}"] = Letter(
            f"B-LTA-{path}",
            "B-LTA",
            path,
            lta_issued[path].path.read_bytes(),
            lta_verifier,
            lta_settings,
        )
    return found


@pytest.fixture
def letter(request: pytest.FixtureRequest, letters: dict[str, Letter]) -> Letter:
    """The letter named by the test's (indirect) parameter."""
    key = request.param
    assert isinstance(key, str)
    return letters[key]


@pytest.fixture(scope="session")
def refreshed(lta_settings: Settings, lta_issued: dict[str, IssuedLetter]) -> dict[str, bytes]:
    """Each B-LTA letter refreshed twice by ``docgen timestamp`` (the library's Archiver)."""
    archiver = Archiver(lta_settings)
    out = {}
    for path, letter in lta_issued.items():
        data = letter.path.read_bytes()
        for _ in range(2):
            data = archiver.refresh(data)
        out[path] = data
    return out


def issue_signed_with(
    work: Path,
    renderer: Renderer,
    pki: DemoPki,
    slot: tuple[str, str],
    request: Path,
    **overrides: Any,
) -> tuple[Settings, IssuedLetter]:
    """A B-B letter issued into a register of its own in ``work``, by an issuer whose key for
    Directorate General ``slot[0]`` is the demo PKI's key ``slot[1]``; ``overrides`` go to
    :meth:`Settings.load`."""
    Register.create(work / "register.sqlite3").close()
    settings = Settings.load(
        letter_register={"path": str(work / "register.sqlite3")},
        output=str(work / "letters"),
        signing={"level": "B-B"},
        **overrides,
    )
    directorate, label = slot
    key = KeySettings(pkcs12=pki.p12[label], passphrase_file=pki.root_cert.parent / "passphrase")
    with Issuer(settings, renderer=renderer, signers={directorate: open_backend(key)}) as issuer:
        return settings, issuer.issue(load_request(request))


# --- assertions shared by the attack tests ----------------------------------------------------


def check(report: VerificationReport, name: str) -> Check:
    """The one check called ``name``."""
    found = [item for item in report.checks if item.name == name]
    assert len(found) == 1, f"expected one {name!r} check, found: {report.checks}"
    return found[0]


def invalid_by_structure(report: VerificationReport, *words: str) -> str:
    """Assert INVALID with the ``structure`` check failed (docgen's own reader caught it).

    ``words``: the failed check's detail must contain one of them (any, when none given).
    The detail is returned, lower-cased.
    """
    assert report.verdict is Verdict.INVALID, f"verdict {report.verdict}: {report.checks}"
    structure = check(report, "structure")
    assert not structure.passed, f"the structure check passed: {report.checks}"
    detail = structure.detail.lower()
    if words:
        assert any(word in detail for word in words), f"{words} not in {structure.detail!r}"
    return detail


def valid_with_structure(report: VerificationReport) -> None:
    """Assert VALID, with the structure check present and passed (no false rejection)."""
    assert report.verdict is Verdict.VALID, report.reasons
    assert check(report, "structure").passed


class Overtime(BaseException):
    """Raised in the main thread when a :func:`deadline` passes (not an Exception, so that
    code under test that catches every Exception cannot swallow it)."""


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Interrupt the block with :class:`Overtime` after ``seconds`` (main thread, POSIX)."""

    def expire(signum: int, frame: object) -> None:
        raise Overtime(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
