"""Forgeries appended after the signed revision: every one is INVALID, by docgen's own reader.

Items 1 and 2 of the issue (an object listed twice in one cross-reference section; metadata
rewritten), incremental saving, the after-signing halves of shadow attacks, evil annotations and
sneaky signature fields, and the parser differentials. Each builder runs against a freshly issued
B-B and B-LTA letter of both rendering paths. Where it is cheap, the test first shows that
poppler really shows the forged content (the forgery is effective), then that docgen says
INVALID with its ``structure`` check failed: pyHanko's own validation is not the only defence.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps import HTTPTimeStamper

from docgen.render.pdf import read_request
from tests.attacks import viewers
from tests.attacks.builders import (
    FORGED_TEXT,
    FORGED_TITLE,
    HIDDEN_REVISION,
    POST_SIGNATURE,
    duplicate_xref_attachment,
    duplicate_xref_page,
    duplicate_xref_quantity,
    first_page,
    forged_quantity_stream,
    quantity,
)
from tests.attacks.conftest import LETTERS, TWO_LETTERS, Letter, check, invalid_by_structure
from tests.attacks.rawpdf import Update, read

SHOWN = {
    "duplicate-xref-quantity": "quantity",
    "duplicate-xref-stream": "quantity",
    "overlapping-subsections": "quantity",
    "xref-stream-overlapping-index": "quantity",
    "hybrid-xrefstm": "quantity",
    "isa-visible": "quantity",
    "duplicate-xref-page": "page",
    "object-stream-redefinition": "page",
    "shadow-second-page-tree": "page",
    "eaa-freetext": "page",
    "eaa-stamp": "page",
    "duplicate-xref-attachment": "attachment",
    "info-title": "title",
    "xmp-title": "xmp",
    "info-producer": "title",
    "xmp-title-behind-a-date": "xmp",
    "xmp-producer": "xmp",
}
"""What poppler shows of each forgery that fools it on every letter (the others are still
forgeries: a viewer that honours what they add shows it)."""


def assert_effective(attack: str, forged: bytes, letter: Letter, folder: Path) -> None:
    """Assert that poppler shows the forged content of ``attack``, not the signed one."""
    kind = SHOWN.get(attack)
    if kind == "quantity":
        _, new = quantity(letter.data)
        assert new not in viewers.page_one(letter.data, folder / "genuine")
        assert new in viewers.page_one(forged, folder), f"poppler does not show {new}"
    elif kind == "page":
        assert FORGED_TEXT in viewers.page_one(forged, folder), "poppler shows the signed page"
    elif kind == "attachment":
        shown = viewers.attachment(forged, folder)
        assert shown["items"][0]["quantity"] != str(read_request(letter.data).items[0].quantity)
    elif kind == "title":
        assert FORGED_TITLE in viewers.info(forged, folder)
    elif kind == "xmp":
        assert FORGED_TITLE in viewers.xmp(forged, folder)


WRITER_MADE = {
    "shadow-overlay-xobject",
    "shadow-overlay-annotation",
    "shadow-form-value",
    "eaa-freetext",
    "eaa-stamp",
    "ssa-signature-field",
}
"""Attacks whose update pyHanko's own writer makes: the letter's cross-reference kind does not
matter to them, so they run on one letter of each level and each path (B-B HTML, B-LTA DOCX)."""


@pytest.mark.parametrize(
    ("attack", "letter"),
    [
        (attack, key)
        for attack in POST_SIGNATURE
        for key in (TWO_LETTERS if attack in WRITER_MADE else LETTERS)
    ],
    indirect=["letter"],
)
def test_a_change_after_signing_is_invalid_by_docgens_own_reader(
    attack: str, letter: Letter, tmp_path: Path
) -> None:
    forged = POST_SIGNATURE[attack](letter.data)
    assert forged.startswith(letter.data), "the signed letter's bytes are untouched"
    assert_effective(attack, forged, letter, tmp_path)
    report = letter.verifier.verify(forged, name=f"{attack}.pdf")
    invalid_by_structure(report, "changed after signing")


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
@pytest.mark.parametrize("attack", list(HIDDEN_REVISION))
def test_a_hidden_or_misplaced_update_is_invalid_by_docgens_own_reader(
    attack: str, letter: Letter
) -> None:
    forged = HIDDEN_REVISION[attack](letter.data)
    assert forged.startswith(letter.data)
    report = letter.verifier.verify(forged, name=f"{attack}.pdf")
    invalid_by_structure(report)


# --- item 1 in detail: viewers and pyHanko read two different documents --------------------------


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
def test_duplicate_xref_quantity_is_read_differently_by_poppler_and_pyhanko(
    letter: Letter, tmp_path: Path
) -> None:
    forged = duplicate_xref_quantity(letter.data)
    old, new = quantity(letter.data)
    genuine_text = viewers.page_one(letter.data, tmp_path / "genuine")
    forged_text = viewers.page_one(forged, tmp_path / "forged")
    assert old in genuine_text and new not in genuine_text
    assert new in forged_text and old not in forged_text, "poppler shows the forged quantity"
    number, _ = forged_quantity_stream(Update(letter.data))
    seen_by_pyhanko = read(forged).get_object(generic.Reference(number, 0))
    signed = read(letter.data).get_object(generic.Reference(number, 0))
    assert isinstance(seen_by_pyhanko, generic.StreamObject)
    assert isinstance(signed, generic.StreamObject)
    assert seen_by_pyhanko.data == signed.data, "pyHanko reads the signed content stream"


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
def test_duplicate_xref_page_shows_another_page_one(letter: Letter, tmp_path: Path) -> None:
    forged = duplicate_xref_page(letter.data)
    shown = viewers.page_one(forged, tmp_path)
    assert FORGED_TEXT in shown
    assert read_request(letter.data).applicant.name not in shown
    # pyHanko still reads the signed page 1, with its own content streams
    signed_ref, signed_page = first_page(Update(letter.data))
    forged_ref, forged_page = first_page(Update(forged))
    assert forged_ref.idnum == signed_ref.idnum
    assert forged_page.raw_get("/Contents") == signed_page.raw_get("/Contents")


@pytest.mark.parametrize("letter", LETTERS, indirect=True)
def test_duplicate_xref_attachment_gives_viewers_another_request(
    letter: Letter, tmp_path: Path
) -> None:
    forged = duplicate_xref_attachment(letter.data)
    genuine = read_request(letter.data)
    detached = viewers.attachment(forged, tmp_path)
    assert detached["request_id"] == genuine.request_id
    assert detached["items"][0]["quantity"] == str(genuine.items[0].quantity * 100)
    # docgen's own reader of the attachment (pyHanko) still finds the signed request
    assert read_request(forged) == genuine


# --- free text in what may follow a signature -----------------------------------------------------


def _document_timestamp(pdf: bytes, tsa: str, field_name: str | None) -> bytes:
    """``pdf`` with a genuine document timestamp from the run's timestamping authority."""
    out = io.BytesIO()
    PdfTimeStamper(HTTPTimeStamper(tsa), field_name=field_name).timestamp_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf)), "sha256", output=out
    )
    return out.getvalue()


@pytest.mark.parametrize("letter", TWO_LETTERS, indirect=True)
def test_a_document_timestamp_field_named_in_free_text_is_invalid(
    letter: Letter, pki_services: str, tmp_path: Path
) -> None:
    """A genuine timestamp, but in a field whose name viewers list beside the signatures."""
    control = _document_timestamp(letter.data, pki_services, None)
    report = letter.verifier.verify(control, name="timestamped.pdf")
    assert check(report, "structure").passed, report.checks

    forged = _document_timestamp(letter.data, pki_services, FORGED_TITLE)
    assert FORGED_TITLE in viewers.signatures(forged, tmp_path), "pdfsig does not show the name"
    report = letter.verifier.verify(forged, name="timestamp-named.pdf")
    invalid_by_structure(report, "a name pyhanko does not give")
