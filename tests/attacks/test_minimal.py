"""The reduced recipe of item 1: viewers show one document, pyHanko reads another."""

from __future__ import annotations

import io
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.attacks import viewers
from tests.attacks.minimal import CONTENT, minimal_duplicate_xref_pdf

UPSTREAM = (
    "pyHanko no longer resolves a doubly listed object to the section's last row: pyHanko "
    "changed, so the upstream report in the closing note should be revisited"
)


def test_the_recipe_is_a_few_hundred_bytes() -> None:
    pdf = minimal_duplicate_xref_pdf()
    assert pdf.startswith(b"%PDF-1.7\n") and pdf.endswith(b"%%EOF\n")
    assert len(pdf) < 1000
    assert pdf.count(b"xref\n4 1\n") == 1 and pdf.count(b"\n4 1\n") == 2


def test_poppler_shows_the_forged_object(tmp_path: Path) -> None:
    shown = viewers.page_one(minimal_duplicate_xref_pdf(), tmp_path)
    assert "FORGED" in shown and "ORIGINAL" not in shown


def test_pyhanko_strict_reads_the_original_object_canary() -> None:
    reader = PdfFileReader(io.BytesIO(minimal_duplicate_xref_pdf()), strict=True)
    content = reader.get_object(generic.Reference(CONTENT, 0))
    assert isinstance(content, generic.StreamObject)
    assert b"(ORIGINAL)" in content.data, UPSTREAM
    assert reader.xrefs.total_revisions == 2
