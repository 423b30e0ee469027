"""Every shipped service renders approval and rejection on its real path (WeasyPrint or
LibreOffice) to a PDF/A-3b that carries the letter's essentials and its request."""

from __future__ import annotations

import re
import subprocess
from datetime import date
from pathlib import Path

import pytest

from docgen.catalogue import TemplateFormat
from docgen.config import Settings
from docgen.context import DRAFT_SEQUENCE
from docgen.formatting import angka, nip, npwp, tanggal, today_in
from docgen.models import LetterRequest
from docgen.render import RenderedLetter, Renderer
from docgen.render.pdf import ATTACHMENT_NAME, read_request
from tests.helpers import EXAMPLE_FILES, EXAMPLES, ROOT, load_request, pdf_pages, pdf_text

STEMS = [path.stem for path in EXAMPLE_FILES]


def test_every_service_has_an_approval_and_a_rejection_example(renderer: Renderer) -> None:
    outcomes = {(load_request(path).service, path.stem.rsplit("-", 1)[1]) for path in EXAMPLE_FILES}
    expected = {(s.code, o) for s in renderer.catalogue for o in ("approved", "rejected")}
    assert outcomes == expected


@pytest.mark.parametrize("stem", STEMS)
def test_letter_shows_subject_company_items_and_signatory(
    stem: str, drafts: dict[str, RenderedLetter], tmp_path: Path
) -> None:
    letter = drafts[stem]
    request = letter.request
    text = " ".join(pdf_text(letter.pdf, tmp_path).split())
    subject = request.subject or letter.service.subject_for(request.decision.outcome)
    assert " ".join(subject.split()[:4]) in text
    assert request.applicant.name in text
    assert request.signatory.name in text
    assert nip(request.signatory.nip) in text  # printed grouped: 19700515 200003 1 002
    for item in request.items if request.decision.approved else ():
        assert item.tariff_code in text
    for reason in request.decision.reasons:
        assert " ".join(reason.split()[:5]) in text
    # the rest of the request, in the forms an Indonesian letter prints them (compared without
    # spaces: a line may break inside a number such as SGS/DIR/0412/X/2026, after a slash)
    packed = "".join(text.split())
    printed = [
        request.applicant.nib,
        npwp(request.applicant.npwp),
        request.application.number,
        tanggal(request.application.date),
        request.addressee.title,
        *request.copies,
        *(" ".join(condition.split()[:5]) for condition in request.decision.conditions),
        *(angka(item.quantity) for item in request.items),
    ]
    if request.decision.approved:
        printed.append(" ".join(request.applicant.address.split()[:4]))
        if request.valid_until is not None:
            printed.append(tanggal(request.valid_until))
    assert [words for words in printed if "".join(words.split()) not in packed] == []


@pytest.mark.parametrize("stem", STEMS)
def test_letter_is_pdfa_3b_with_every_font_embedded(
    stem: str, drafts: dict[str, RenderedLetter], tmp_path: Path
) -> None:
    path = tmp_path / "letter.pdf"
    path.write_bytes(drafts[stem].pdf)
    meta = subprocess.run(["pdfinfo", "-meta", str(path)], capture_output=True, text=True).stdout
    # XMP allows both forms: pdfaid:part="3" and <pdfaid:part>3</pdfaid:part>
    assert re.search(r'pdfaid:part(="3"|>3<)', meta), meta
    assert re.search(r'pdfaid:conformance(="B"|>B<)', meta), meta
    # PDF/A-3 is PDF 1.7: neither the header nor the catalog may declare a later version
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    assert re.search(r"^PDF version:\s+1\.[4-7]$", info, re.MULTILINE), info
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    rows = fonts.splitlines()[2:]
    assert rows, "a letter with text has fonts"
    for row in rows:
        assert row.split()[-5] == "yes", f"font not embedded: {row}"


@pytest.mark.parametrize("stem", STEMS)
def test_embedded_request_round_trips(
    stem: str, drafts: dict[str, RenderedLetter], tmp_path: Path
) -> None:
    letter = drafts[stem]
    assert read_request(letter.pdf) == letter.request
    # and an independent reader (poppler) finds the same attachment
    path = tmp_path / "letter.pdf"
    path.write_bytes(letter.pdf)
    listing = subprocess.run(["pdfdetach", "-list", str(path)], capture_output=True, text=True)
    assert ATTACHMENT_NAME in listing.stdout
    saved = tmp_path / "saved.json"
    subprocess.run(["pdfdetach", "-save", "1", "-o", str(saved), str(path)], check=True)
    assert LetterRequest.from_json(saved.read_bytes()) == letter.request


@pytest.mark.parametrize("stem", STEMS)
def test_draft_is_stamped_on_every_page(
    stem: str, drafts: dict[str, RenderedLetter], settings: Settings, tmp_path: Path
) -> None:
    pages = pdf_pages(drafts[stem].pdf, tmp_path)
    assert pages
    for page in pages:
        assert settings.esign.draft_stamp in page


@pytest.mark.parametrize(
    "stem", ["ilmate-pertek-baja-approved", "ikft-pertek-ban-approved"], ids=["html", "docx"]
)
def test_long_item_table_flows_with_repeated_header_and_page_numbers(
    stem: str, drafts: dict[str, RenderedLetter], tmp_path: Path
) -> None:
    letter = drafts[stem]
    assert len(letter.request.items) == 12
    pages = pdf_pages(letter.pdf, tmp_path)
    count = len(pages)
    assert count >= 2
    for number, page in enumerate(pages, start=1):
        assert f"Halaman {number} dari {count}" in " ".join(page.split())
    table_pages = [
        page for page in pages if any(i.tariff_code in page for i in letter.request.items)
    ]
    assert len(table_pages) >= 2, "the table should continue on the next page"
    for page in table_pages:
        assert "Pos Tarif" in " ".join(page.split()), (
            "the header row is repeated on every page of the table"
        )


def test_final_render_prints_the_register_number_and_no_stamp(
    renderer: Renderer, settings: Settings, tmp_path: Path
) -> None:
    request = load_request(EXAMPLES / "ilmate-pertek-baja-approved.json")
    letter = renderer.render_final(
        request,
        number="12/ILMATE/PERTEK/XII/2026",
        letter_date=date(2026, 12, 1),
        verification_url="https://verify.example/surat/abc",
    )
    text = pdf_text(letter.pdf, tmp_path)
    assert not letter.draft
    assert "12/ILMATE/PERTEK/XII/2026" in text
    assert "1 Desember 2026" in text
    assert settings.esign.draft_stamp not in text


def test_both_formats_are_exercised(drafts: dict[str, RenderedLetter]) -> None:
    assert {letter.service.format for letter in drafts.values()} == set(TemplateFormat)


@pytest.mark.parametrize("stem", STEMS)
def test_a_draft_is_dated_as_the_letter_issued_today_would_be(
    stem: str, drafts: dict[str, RenderedLetter], settings: Settings, tmp_path: Path
) -> None:
    today = today_in(settings.signing.timezone)
    draft = drafts[stem]
    assert draft.request.decision.date != today, "the example shows the difference"
    assert tanggal(today) in " ".join(pdf_text(draft.pdf, tmp_path).split())
    assert draft.number == draft.service.letter_number(DRAFT_SEQUENCE, today)


@pytest.mark.parametrize(
    "stem", ["ilmate-pertek-baja-approved", "ikft-pertek-ban-approved"], ids=["html", "docx"]
)
def test_demo_letters_claim_no_real_certificate_authority(
    stem: str, renderer: Renderer, tmp_path: Path
) -> None:
    assert "BSrE" not in Settings.load().esign.footer, "the embedded default names no authority"
    demo = Settings.load(ROOT / "certs" / "demo.toml")
    with Renderer(demo, renderer.catalogue, converter=renderer.converter) as demo_renderer:
        draft = demo_renderer.render_draft(load_request(EXAMPLES / f"{stem}.json"))
    text = " ".join(pdf_text(draft.pdf, tmp_path).split())
    assert "sertifikat DEMO, bukan sertifikat BSrE" in text
    assert "diterbitkan oleh" not in text, "no certificate authority is claimed"
    assert "bukan surat resmi" in text and "alat bukti hukum yang sah" not in text
    for page in pdf_pages(draft.pdf, tmp_path):
        assert "DEMO - KONSEP" in page
