"""Letter layout measured on the rendered PDF (word boxes from poppler, named destinations).

* Goods tables filled with the longest values the model accepts keep every word in its own cell
  and on the page: no two words overlap, none leaves the text block, and a quantity too long for
  its column wraps only after a group separator (``999.999.`` / ``999,999``), never inside a group.
* The signature block (position, signature space, name and NIP), the e-signature notice and the
  QR code's space stay on one page, also when the goods table pushes them to a page boundary.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from pydantic import ValidationError
from pypdf import PdfReader

from docgen.config import Settings
from docgen.formatting import nip
from docgen.models import GoodsItem, LetterRequest
from docgen.render import RenderedLetter, Renderer
from docgen.sign.pades import QR_ANCHOR
from tests.helpers import EXAMPLES, pdf_pages

MM = 72 / 25.4
LEFT_MARGIN, RIGHT_MARGIN = 25 * MM, 20 * MM  # the text block of every letter, HTML and DOCX
XHTML = "{http://www.w3.org/1999/xhtml}"
ZERO_WIDTH_SPACE = "\u200b"

LONGEST_QUANTITY = "999999999999999.999"
"""18 digits, 3 of them decimals: the most the model accepts (printed 999.999.999.999.999,999)."""


def test_the_extreme_values_are_the_longest_the_model_accepts() -> None:
    item = GoodsItem.model_validate(extreme_item(0), strict=False)
    assert item.quantity == Decimal(LONGEST_QUANTITY)
    for name, value in extreme_item(0).items():
        if name == "tariff_code":
            continue
        longer = "9" + value if name == "quantity" else value + "x"
        with pytest.raises(ValidationError):
            GoodsItem.model_validate({**extreme_item(0), name: longer}, strict=False)


# ------------------------------------------------------------------------------ requests


def _max_length(name: str) -> int:
    limits = [
        limit
        for constraint in GoodsItem.model_fields[name].metadata
        if (limit := getattr(constraint, "max_length", None)) is not None
    ]
    return int(min(limits))


def _words_of(length: int, word: str) -> str:
    """Ordinary words up to ``length`` characters."""
    text = " ".join([word] * (length // (len(word) + 1) + 1))[:length]
    return text if not text.endswith(" ") else text[:-1] + "x"


def _field(name: str, length: int, index: int) -> str:
    """The longest value: one unbroken word of 40 letters (or all of it), then ordinary words."""
    stem = name.replace("_", "").capitalize()
    unbroken = (stem * 80)[: min(40, length)]
    if length <= 40:
        return (stem * 80)[:length]
    return f"{unbroken} {_words_of(length - 41, f'{stem[:5].lower()}{index % 10}')}"


def extreme_item(index: int, cap: int | None = None) -> dict[str, str]:
    """A goods item with every field at the longest the model accepts (or at most ``cap``)."""
    texts = (
        *("description", "unit", "country_of_origin", "destination_port", "specification"),
        *("brand", "type", "size"),
    )
    item = {name: _field(name, min(_max_length(name), cap or 10_000), index) for name in texts}
    return {"tariff_code": "7208.51.00", "quantity": LONGEST_QUANTITY, **item}


def request_with(stem: str, items: list[dict[str, str]]) -> LetterRequest:
    """The example ``stem`` with its goods replaced by ``items``."""
    raw: dict[str, Any] = json.loads((EXAMPLES / f"{stem}.json").read_text(encoding="utf-8"))
    raw["items"] = items
    return LetterRequest.from_json(json.dumps(raw).encode(), source=f"{stem} (layout)")


# ------------------------------------------------------------------------------ geometry


@dataclass(frozen=True)
class Word:
    """A word as poppler places it, in points from the page's top-left corner."""

    text: str
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: Word) -> bool:
        """Whether the two words' ink overlaps.

        Boxes span the font's whole ascent and descent, so lines set tight (DOCX) touch;
        the middle half of each box is the x-height band, which only words on the same line share.
        """
        quarter, other_quarter = (self.bottom - self.top) / 4, (other.bottom - other.top) / 4
        across = min(self.right, other.right) - max(self.left, other.left)
        down = min(self.bottom - quarter, other.bottom - other_quarter) - max(
            self.top + quarter, other.top + other_quarter
        )
        return across > 0.5 and down > 0


@dataclass(frozen=True)
class Page:
    """One page: its size and its words."""

    width: float
    height: float
    words: list[Word]


def pdf_words(pdf: bytes, tmp_path: Path) -> list[Page]:
    """Every page's words with their boxes (poppler's ``pdftotext -bbox-layout``)."""
    path = tmp_path / "layout.pdf"
    path.write_bytes(pdf)
    command = ["pdftotext", "-enc", "UTF-8", "-bbox-layout", str(path), "-"]
    xhtml = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    root = ElementTree.fromstring(re.sub(r"<!DOCTYPE[^>]*>", "", xhtml))
    return [
        Page(
            float(page.get("width", 0)),
            float(page.get("height", 0)),
            [
                Word(
                    (word.text or "").replace(ZERO_WIDTH_SPACE, ""),
                    *(float(word.get(edge, 0)) for edge in ("xMin", "yMin", "xMax", "yMax")),
                )
                for word in page.iter(f"{XHTML}word")
            ],
        )
        for page in root.iter(f"{XHTML}page")
    ]


def overlapping(pages: list[Page]) -> list[tuple[int, str, str]]:
    """Pairs of words that overlap, with their page number."""
    found = []
    for number, page in enumerate(pages, start=1):
        words = sorted(page.words, key=lambda word: word.top)
        for index, word in enumerate(words):
            # only words starting above this one's bottom can overlap it
            for other in words[index + 1 :]:
                if other.top >= word.bottom:
                    break
                if word.overlaps(other):
                    found.append((number, word.text, other.text))
    return found


def outside(pages: list[Page]) -> list[tuple[int, str, float, float]]:
    """Words not wholly inside the text block (left to right) and 5 mm in from top and bottom."""
    return [
        (number, word.text, round(word.left / MM, 1), round(word.right / MM, 1))
        for number, page in enumerate(pages, start=1)
        for word in page.words
        if word.left < LEFT_MARGIN - 0.5
        or word.right > page.width - RIGHT_MARGIN + 0.5
        or word.top < 5 * MM
        or word.bottom > page.height - 5 * MM
    ]


QUANTITY_PART = re.compile(r"[9.,]*999[9.,]*")
WHOLE_GROUPS = re.compile(r"999([.,]999)*[.,]?")


def quantity_parts(pages: list[Page]) -> list[str]:
    """The pieces the quantities (all nines) are printed in.

    A piece of two nines or fewer is left out (it may be a row number): a quantity broken inside
    a group of digits always leaves a longer piece with a short group too.
    """
    return [
        word.text for page in pages for word in page.words if QUANTITY_PART.fullmatch(word.text)
    ]


# ------------------------------------------------------------------------------ goods tables


TABLES = [
    # (example, items, longest text): the field trial's 40-item steel letter and its DOCX
    # counterpart, with texts of up to 120 characters (every page costs poppler time), then each
    # template with every value at the longest the model accepts
    pytest.param("ilmate-pertek-baja-approved", 40, 120, id="html-baja-40"),
    pytest.param("ilmate-pertek-btb-approved", 40, 120, id="docx-btb-40"),
    pytest.param("ilmate-pertek-baja-approved", 2, None, id="html-baja"),
    pytest.param("agro-rekom-garam-approved", 2, None, id="html-garam"),
    pytest.param("ikft-pertek-kimia-approved", 2, None, id="html-kimia"),
    pytest.param("ilmate-pertek-baja-rejected", 2, None, id="html-rejection"),
    pytest.param("ilmate-pertek-btb-approved", 2, None, id="docx-btb"),
    pytest.param("agro-rekom-gula-approved", 2, None, id="docx-gula"),
    pytest.param("ikft-pertek-ban-approved", 2, None, id="docx-ban"),
    pytest.param("ilmate-pertek-btb-rejected", 2, None, id="docx-rejection"),
]


@pytest.mark.parametrize(("stem", "count", "cap"), TABLES)
def test_longest_values_stay_in_their_cells_and_on_the_page(
    stem: str, count: int, cap: int | None, renderer: Renderer, tmp_path: Path
) -> None:
    request = request_with(stem, [extreme_item(index, cap) for index in range(count)])
    pages = pdf_words(renderer.render_draft(request).pdf, tmp_path)

    assert not overlapping(pages), overlapping(pages)[:10]
    assert not outside(pages), outside(pages)[:10]
    parts = quantity_parts(pages)
    assert len(parts) >= count, parts[:10]
    broken = [part for part in parts if not WHOLE_GROUPS.fullmatch(part)]
    assert not broken, f"quantities wrapped inside a group of digits: {broken[:10]}"


# ------------------------------------------------------------------------------ signature page


ORDINARY_ITEM = {
    "tariff_code": "7208.51.00",
    "description": "Produk canai lantaian dari besi atau baja bukan paduan, canai panas, "
    "dalam gulungan, tebal melebihi 10 mm",
    "quantity": "2500",
    "unit": "ton",
    "country_of_origin": "Korea Selatan",
    "destination_port": "Cigading",
    "specification": "JIS G3101 SS400, tebal 12 mm",
    "type": "Radial",
    "brand": "Bridgestone",
    "size": "295/80 R22.5",
}


@dataclass(frozen=True)
class SigningPages:
    """The pages (from 1) of the signatory's name, the e-signature notice and the QR space."""

    pages: int
    name: int
    notice: int
    qr: int


def signing_pages(letter: RenderedLetter, settings: Settings, tmp_path: Path) -> SigningPages:
    """Where a letter's signing parts are: by text, and the QR space by its named destination."""
    texts = [" ".join(page.split()) for page in pdf_pages(letter.pdf, tmp_path)]
    signatory = letter.request.signatory
    name = f"{signatory.name} NIP {nip(signatory.nip)}"
    notice = " ".join(settings.esign.footer.split()[:8])
    on_name = [number for number, text in enumerate(texts, start=1) if name in text]
    on_notice = [number for number, text in enumerate(texts, start=1) if notice in text]
    reader = PdfReader(BytesIO(letter.pdf))
    # LibreOffice names destinations in a /Dests dictionary (keys with a slash), WeasyPrint in
    # a name tree
    destinations = {key.lstrip("/"): value for key, value in reader.named_destinations.items()}
    qr = reader.get_destination_page_number(destinations[QR_ANCHOR])
    assert qr is not None, "the QR space is on a page"
    assert len(on_name) == 1, on_name
    assert on_notice, "the e-signature notice is printed"
    # the notice is printed once, after the signature (a page footer would repeat it)
    assert len(on_notice) == 1, on_notice
    return SigningPages(len(texts), on_name[0], on_notice[0], qr + 1)


@pytest.mark.parametrize(
    "stem", ["ilmate-pertek-baja-approved", "ilmate-pertek-btb-approved"], ids=["html", "docx"]
)
def test_signature_notice_and_qr_share_a_page_at_every_page_boundary(
    stem: str, renderer: Renderer, settings: Settings, tmp_path: Path
) -> None:
    @cache
    def layout(count: int) -> SigningPages:
        request = request_with(stem, [ORDINARY_ITEM] * count)
        return signing_pages(renderer.render_draft(request), settings, tmp_path)

    # The first item count whose letter runs to one page more than a one-item letter: its goods
    # table fills the page up to where the signing parts start, so they reach a page boundary
    # (before the fix, the notice and the QR code went on alone to the next page).
    low, high = 1, 2
    while layout(high).pages == layout(1).pages:
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if layout(middle).pages == layout(1).pages else (low, middle)
    for count in (high - 1, high):
        found = layout(count)
        assert found.name == found.notice == found.qr, (count, found)
        assert found.name == found.pages, (count, found)  # nothing is left after the notice
