"""``docgen templates preview``: every letter in one PDF and a contact sheet, and none overflows.

The preview of the shipped catalogue is made once; its stress letters (the longest names, 40
items of 10-character quantities) are where a layout breaks, so every word of every page must
stay inside the page's side margins and no two words may overlap (poppler's word boxes, an
independent reader). The contact sheet is kept under build/test-artifacts/ for a reviewer.
"""

from __future__ import annotations

import html
import re
import subprocess
from itertools import pairwise
from pathlib import Path

import pytest
from PIL import Image

from docgen.models import Outcome
from docgen.preview import PreviewLetter, preview, stress_request
from docgen.render import Renderer
from tests.browser import artifacts_folder
from tests.helpers import EXAMPLES, load_request

_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')
_MM = 72 / 25.4
_LEFT, _RIGHT = 20 * _MM, 15 * _MM


@pytest.fixture(scope="module")
def previewed(renderer: Renderer) -> tuple[list[PreviewLetter], Path, Path]:
    folder = artifacts_folder("tests/test_preview.py::preview")
    pdf, sheet = folder / "preview.pdf", folder / "preview.png"
    return preview(renderer, EXAMPLES, pdf, sheet), pdf, sheet


def test_every_service_is_shown_in_both_outcomes_with_its_sample_and_a_stress_request(
    previewed: tuple[list[PreviewLetter], Path, Path], renderer: Renderer
) -> None:
    letters, pdf, sheet = previewed
    assert [(letter.service, letter.outcome, letter.kind) for letter in letters] == [
        (service.code, outcome, kind)
        for service in renderer.catalogue
        for outcome in Outcome
        for kind in ("sample", "stress")
    ]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    assert f"Pages:           {sum(letter.pages for letter in letters)}" in info
    with Image.open(sheet) as image:
        rows = len(letters)
        assert image.height > rows * 250, "a row of page images per letter"
    # a stress letter runs longer than its sample
    for sample, stress in pairwise(letters):
        if sample.kind == "sample" and sample.outcome is Outcome.APPROVED:
            assert stress.pages > sample.pages, (sample, stress)


def test_a_stress_request_is_as_long_as_the_model_allows() -> None:
    request = stress_request(load_request(EXAMPLES / "ikft-pertek-ban-approved.json"))
    assert len(request.applicant.name) == 200 and len(request.applicant.address) == 400
    assert len(request.items) == 40
    assert {str(item.quantity) for item in request.items} == {"99999999"}


def _words(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, float, float, str]]]]:
    """Per page: width, height and its words' boxes, as poppler reads them."""
    text = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    pages = []
    for chunk in text.split("<page ")[1:]:
        size = _PAGE.match("<page " + chunk)
        assert size is not None
        words = [
            (float(a), float(b), float(c), float(d), html.unescape(w))
            for a, b, c, d, w in _WORD.findall(chunk)
        ]
        pages.append((float(size.group(1)), float(size.group(2)), words))
    return pages


def test_no_word_runs_into_the_margins_or_overlaps_another(
    previewed: tuple[list[PreviewLetter], Path, Path],
) -> None:
    _, pdf, _ = previewed
    problems = []
    for number, (width, height, words) in enumerate(_words(pdf), start=1):
        for x0, y0, x1, y1, word in words:
            # poppler drops a word wholly off the page: a word in the side margins (25 mm left,
            # 20 mm right; 5 mm allowed) is where an overflowing cell or line shows
            if x0 < _LEFT or x1 > width - _RIGHT or y0 < 0 or y1 > height:
                problems.append(f"page {number}: {word!r} runs into the margin or off the page")
        ordered = sorted(words)
        for index, (x0, y0, x1, y1, word) in enumerate(ordered):
            for a0, b0, a1, b1, other in ordered[index + 1 :]:
                if a0 >= x1 - 0.5:
                    break  # sorted by left edge: no later word reaches back into this one
                # poppler's boxes are a font's full height, taller than a tight line: lines
                # touch; two words overlap when they share half the height of the lower one
                low = min(y1 - y0, b1 - b0)
                if min(x1, a1) - max(x0, a0) > 0.5 and min(y1, b1) - max(y0, b0) > low / 2:
                    problems.append(f"page {number}: {word!r} overlaps {other!r}")
    assert problems == []
