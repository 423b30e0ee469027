"""The signature dictionary: forged keys in the gap (item 3), signature wrapping, and USF.

The gap between a signature's two signed ranges must hold exactly its /Contents hex string.
Rewriting /Contents as a literal string frees room there for forged keys (pyHanko keeps a key's
first definition, so it reads them), or for whole objects an update can then point at. Neither
touches a signed byte. Broken signature dictionaries (USF) must never pass as signed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from docgen.reports import Verdict
from tests.attacks import viewers
from tests.attacks.builders import (
    FORGED_SIGNER,
    FORGED_TEXT,
    USF,
    gap,
    gap_forged_keys,
    swa_objects_in_gap,
)
from tests.attacks.conftest import LETTERS, SIGNATURE_CHECKS, Letter, invalid_by_structure
from tests.attacks.rawpdf import read


def _same_length_outside_the_gap(forged: bytes, genuine: bytes, *, first: bool = False) -> None:
    start, end = gap(genuine, first=first)
    assert len(forged) >= len(genuine)
    assert forged[:start] == genuine[:start], "the first signed range is untouched"
    assert forged[end : len(genuine)] == genuine[end:], "the second signed range is untouched"


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
def test_forged_keys_in_the_gap_are_invalid_by_the_gap_rule(letter: Letter) -> None:
    forged = gap_forged_keys(letter.data)
    _same_length_outside_the_gap(forged, letter.data)
    # effective: pyHanko reads the forged signer name and reason from the gap
    newest = read(forged).embedded_signatures[-1].sig_object
    assert str(newest["/Name"]) == FORGED_SIGNER
    assert str(newest["/Reason"]) == FORGED_TEXT
    report = letter.verifier.verify(forged, name="gap.pdf")
    if letter.level == "B-B":  # the gap is the signature's own
        invalid_by_structure(report, "gap")
    else:  # the gap of the newest document timestamp, whose revision follows the signature
        invalid_by_structure(report, "gap", "changed after signing")


@pytest.mark.parametrize("letter", ["B-LTA-html", "B-LTA-docx"], indirect=True)
def test_forged_keys_in_the_signatures_gap_under_a_document_timestamp_are_invalid(
    letter: Letter,
) -> None:
    forged = gap_forged_keys(letter.data, first=True)
    _same_length_outside_the_gap(forged, letter.data, first=True)
    assert str(read(forged).embedded_regular_signatures[0].sig_object["/Name"]) == FORGED_SIGNER
    report = letter.verifier.verify(forged, name="gap-signature.pdf")
    invalid_by_structure(report, "gap")


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
def test_signature_wrapping_objects_in_the_gap_are_invalid(letter: Letter, tmp_path: Path) -> None:
    forged = swa_objects_in_gap(letter.data)
    _same_length_outside_the_gap(forged, letter.data)
    assert FORGED_TEXT in viewers.page_one(forged, tmp_path), "poppler shows the wrapped page"
    report = letter.verifier.verify(forged, name="swa.pdf")
    invalid_by_structure(report, "gap", "changed after signing")


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
@pytest.mark.parametrize("variant", list(USF))
def test_a_broken_signature_dictionary_is_never_valid(variant: str, letter: Letter) -> None:
    forged = USF[variant](letter.data)
    report = letter.verifier.verify(forged, name=f"usf-{variant}.pdf")
    assert report.verdict is Verdict.INVALID, report.checks
    failed = {check.name for check in report.checks if not check.passed}
    assert failed & set(SIGNATURE_CHECKS), f"no signature check failed: {report.checks}"
