"""Mutated letters: every mutation ends in a verdict, quickly, and never a false VALID.

Hypothesis mutates genuine letters (a B-B letter with no update after its signature, and a
B-LTA letter with two) at random: bytes flipped, dropped, inserted or duplicated anywhere,
truncation, and junk or copied revisions appended. The run is derandomised, so a failure
reproduces. Each mutated file must be verified without an exception and within a time budget;
a mutant that verifies VALID must show exactly the text and carry exactly the request data of
the original (poppler reads the text: an independent reader), so VALID can only mean a change
no reader sees, such as one inside validation data nothing uses.
"""

from __future__ import annotations

import time
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docgen.config import Settings
from docgen.models import LetterRequest
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from docgen.render.pdf import read_request
from docgen.reports import Verdict
from docgen.verify import Verifier
from tests.helpers import EXAMPLES, load_request, pdf_text

STEM = "ilmate-pertek-baja-approved"
BUDGET_SECONDS = 10.0  # one file, on a loaded 2-core machine; a letter takes about 0.1-0.3 s


class _Short(dict[str, object]):
    """A fixture's value that Hypothesis prints in a few words when it reports a failing example
    (printed whole, the letters would be a repr of hundreds of kB, and Hypothesis would raise a
    warning about that instead of reporting the failure)."""

    def __repr__(self) -> str:
        return f"<{', '.join(self)}>"


FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def letters(
    tmp_path_factory: pytest.TempPathFactory, renderer: Renderer, pki_services: str
) -> dict[str, bytes]:
    """A genuine B-B letter and a genuine B-LTA letter of the same request."""
    found = _Short()
    for level in ("B-B", "B-LTA"):
        work = tmp_path_factory.mktemp(f"fuzz-{level}")
        signing = {"level": level, "timestamp_url": pki_services if level != "B-B" else ""}
        Register.create(work / "register.sqlite3").close()
        issuing = Settings.load(
            letter_register={"path": str(work / "register.sqlite3")},
            output=str(work / "letters"),
            signing=signing,
        )
        with Issuer(issuing, renderer=renderer) as issuer:
            found[level] = issuer.issue(load_request(EXAMPLES / f"{STEM}.json")).path.read_bytes()
    return cast(dict[str, bytes], found)


@pytest.fixture(scope="module")
def fuzz_verifier(settings: Settings) -> Verifier:
    """A recipient's verifier: the demo trust root, online revocation, no register."""
    return Verifier.from_settings(settings, use_register=False)


@pytest.fixture(scope="module")
def originals(
    letters: dict[str, bytes], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, LetterRequest]]:
    """What a reader sees in each genuine letter: its text and its request data."""
    work = tmp_path_factory.mktemp("fuzz-text")
    seen = _Short(
        {level: (pdf_text(pdf, work), read_request(pdf)) for level, pdf in letters.items()}
    )
    return cast(dict[str, tuple[str, LetterRequest]], seen)


def _mutate(pdf: bytes, kind: str, where: float, size: int, junk: bytes) -> bytes:
    position = min(int(where * len(pdf)), len(pdf) - 1)
    if kind == "flip":
        return pdf[:position] + bytes([pdf[position] ^ (junk[0] or 1)]) + pdf[position + 1 :]
    if kind == "drop":
        return pdf[:position] + pdf[position + size :]
    if kind == "insert":
        return pdf[:position] + junk + pdf[position:]
    if kind == "duplicate":
        return pdf[: position + size] + pdf[position : position + size] + pdf[position + size :]
    if kind == "truncate":
        return pdf[:position]
    if kind == "append-junk":
        return pdf + junk
    # a copy of a later stretch of the file appended: revisions, xref sections, objects again
    return pdf + pdf[position:]


MUTATIONS = st.tuples(
    st.sampled_from(
        ["flip", "drop", "insert", "duplicate", "truncate", "append-junk", "append-copy"]
    ),
    st.floats(min_value=0, max_value=1, allow_nan=False),
    st.integers(min_value=1, max_value=4096),
    st.binary(min_size=1, max_size=512),
)


@pytest.mark.parametrize("level", ["B-B", "B-LTA"])
def test_the_genuine_letters_are_valid(
    level: str, letters: dict[str, bytes], fuzz_verifier: Verifier
) -> None:
    report = fuzz_verifier.verify(letters[level])
    assert report.verdict is Verdict.VALID, report.reasons
    assert report.level == level


@pytest.mark.parametrize("level", ["B-B", "B-LTA"])
@FUZZ
@given(mutation=MUTATIONS)
def test_a_mutated_letter_gets_a_verdict_in_time_and_valid_only_if_unchanged_to_readers(
    level: str,
    mutation: tuple[str, float, int, bytes],
    letters: dict[str, bytes],
    originals: dict[str, tuple[str, LetterRequest]],
    fuzz_verifier: Verifier,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    pdf = letters[level]
    mutant = _mutate(pdf, *mutation)
    started = time.monotonic()
    report = fuzz_verifier.verify(mutant)  # an exception here fails the test
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_SECONDS, f"{mutation[0]} took {elapsed:.1f} s"
    assert report.verdict in (Verdict.VALID, Verdict.INVALID, Verdict.UNCHECKED)
    if report.verdict is Verdict.VALID and mutant != pdf:
        text, request = originals[level]
        work = tmp_path_factory.mktemp("fuzz-valid")
        assert pdf_text(mutant, work) == text, f"VALID, but the text changed: {mutation}"
        assert read_request(mutant) == request, f"VALID, but the data changed: {mutation}"
