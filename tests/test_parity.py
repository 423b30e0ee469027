"""HTML and DOCX letters carry the same parts where a recipient looks for them.

For every bundled example, issued and signed: the logo in the letterhead on page 1, the letter
number and "Halaman X dari Y" in the footer of every page, and on the signature page the QR
code (decoded from the page's image) together with the verification address it encodes,
printed in words beside it.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from pyhanko.pdf_utils.reader import PdfFileReader

from docgen.pipeline import Issuer
from docgen.render import Renderer
from docgen.render.pdf import read_request
from docgen.reports import IssuedLetter
from tests.browser import decode_qr
from tests.helpers import EXAMPLE_FILES, pdf_pages
from tests.test_layout import ORDINARY_ITEM, request_with

STEMS = [path.stem for path in EXAMPLE_FILES]


def _logo_ink(page_png: bytes) -> float:
    """The share of dark pixels where the logo goes: the first 22 mm of the text width (from
    the 25 mm left margin), from 8 to 40 mm below the top edge; text never starts there."""
    with Image.open(io.BytesIO(page_png)) as image:
        dots_per_mm = image.width / 210
        left, top, right, bottom = (round(v * dots_per_mm) for v in (25, 8, 47, 40))
        grey = image.convert("L").crop((left, top, right, bottom))
    dark = grey.point(lambda value: 255 if value < 128 else 0).histogram()[255]
    return dark / (grey.width * grey.height)


def _page_image(path: Path, page: int, tmp_path: Path) -> bytes:
    stem = tmp_path / f"page-{page}"
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", "-f", str(page), "-l", str(page),
         str(path), str(stem)],
        check=True,
    )  # fmt: skip
    return stem.with_suffix(".png").read_bytes()


@pytest.mark.parametrize("stem", STEMS)
def test_both_formats_print_logo_number_pages_qr_and_address(
    stem: str, issued: dict[str, IssuedLetter], issuer: Issuer, tmp_path: Path
) -> None:
    letter = issued[stem]
    pages = [" ".join(page.split()) for page in pdf_pages(letter.path.read_bytes(), tmp_path)]
    count = len(pages)
    for number, text in enumerate(pages, start=1):
        # the footer's form ("Nomor 12/..."), not the heading's ("Nomor : 12/...")
        assert f"Nomor {letter.letter_number}" in text, f"page {number}: no letter number"
        assert f"Halaman {number} dari {count}" in text, f"page {number}: no page count"
    # the emblem is drawn (an SVG in HTML, a picture in DOCX): about a third of its square is ink
    assert _logo_ink(_page_image(letter.path, 1, tmp_path)) > 0.15, "no logo in the letterhead"

    signatory = read_request(letter.path.read_bytes()).signatory
    (signature_page,) = [n for n, text in enumerate(pages, start=1) if signatory.name in text]
    address = issuer.verification_url(letter.register_id)
    assert decode_qr(_page_image(letter.path, signature_page, tmp_path)) == [address]
    # the address in words, for a reader who cannot scan (pdftotext may break it at a line end)
    words = pages[signature_page - 1]
    assert "Keaslian dokumen dapat diverifikasi" in words
    assert address.replace(" ", "") in words.replace(" ", "")


def test_a_long_docx_letter_is_about_as_small_as_its_html_twin(
    renderer: Renderer, tmp_path: Path
) -> None:
    """LibreOffice writes every structure element of a tagged PDF/A as a plain object (a 300-row
    table: 1.5 MB); compacted into object streams, the DOCX letter stays near the HTML one."""
    items = [ORDINARY_ITEM] * 60
    html = renderer.render_draft(request_with("ilmate-pertek-baja-approved", items)).pdf
    docx = renderer.render_draft(request_with("ilmate-pertek-btb-approved", items)).pdf
    assert len(docx) < 3 * len(html), (len(docx), len(html))
    reader = PdfFileReader(io.BytesIO(docx))
    assert "/StructTreeRoot" in reader.root, "the tags are kept"
    assert b"/ObjStm" in docx
