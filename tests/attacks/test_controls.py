"""Positive controls: genuine letters stay VALID under the same checks that reject forgeries.

For every rejection in this folder there is a genuine shape that must not be rejected: a letter
as issued (B-B and B-LTA, both rendering paths) and a B-LTA letter refreshed twice by
``docgen timestamp`` (only validation data and document timestamps after the signature). And
``docgen timestamp`` itself must refuse to extend a letter that does not verify.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from docgen.archive import Archiver
from docgen.config import Settings
from docgen.errors import DocgenError
from docgen.render.pdf import read_request
from docgen.verify import Verifier
from tests.attacks.builders import duplicate_xref_quantity
from tests.attacks.conftest import LETTERS, PATHS, Letter, check, valid_with_structure
from tests.attacks.rawpdf import read


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
def test_a_genuine_letter_is_valid_with_its_structure_checked(letter: Letter) -> None:
    valid_with_structure(letter.verifier.verify(letter.data, name=f"{letter.key}.pdf"))


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_letter_refreshed_twice_is_valid_with_its_structure_checked(
    path: str, refreshed: dict[str, bytes], letters: dict[str, Letter]
) -> None:
    letter = letters[f"B-LTA-{path}"]
    data = refreshed[path]
    assert data.startswith(letter.data)
    stamps = read(data).embedded_timestamp_signatures
    assert len(stamps) == len(read(letter.data).embedded_timestamp_signatures) + 2
    report = letter.verifier.verify(data, name=f"refreshed-{path}.pdf")
    valid_with_structure(report)
    assert [stamp.kind for stamp in report.timestamps].count("document") == len(stamps)


@pytest.mark.parametrize("letter", ["B-LTA-html", "B-LTA-docx"], indirect=True)
def test_timestamp_refuses_to_extend_a_forged_letter(
    letter: Letter, lta_settings: Settings
) -> None:
    forged = duplicate_xref_quantity(letter.data)
    with pytest.raises(DocgenError, match="does not verify"):
        Archiver(lta_settings).refresh(forged)


def test_a_letter_past_its_validity_is_still_refreshed(letters: dict[str, Letter]) -> None:
    """Its validity period has ended, not its signature: its archive is kept up."""
    letter = letters["B-LTA-html"]
    until = read_request(letter.data).valid_until
    assert until is not None
    later = datetime.combine(until + timedelta(days=1), time(12), tzinfo=UTC)
    verifier = Verifier.from_settings(letter.settings, at=later)
    refreshed = Archiver(letter.settings, verifier=verifier).refresh(letter.data)
    assert refreshed.startswith(letter.data) and len(refreshed) > len(letter.data)
    report = verifier.verify(refreshed)
    assert [check.name for check in report.checks if not check.passed] == ["validity"]
    assert check(report, "structure").passed
