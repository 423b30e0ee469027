"""Helpers shared by the tests: paths and an independent PDF text reader (poppler)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from docgen.models import LetterRequest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def load_request(path: Path) -> LetterRequest:
    """A request from a JSON file."""
    return LetterRequest.from_json(path.read_bytes(), source=path.name)


def pdf_text(pdf: bytes, tmp_path: Path, *, layout: bool = False) -> str:
    """The text of a PDF as poppler's pdftotext reads it (an independent reader)."""
    path = tmp_path / "text-source.pdf"
    path.write_bytes(pdf)
    command = ["pdftotext", "-enc", "UTF-8", *(["-layout"] if layout else []), str(path), "-"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def pdf_pages(pdf: bytes, tmp_path: Path) -> list[str]:
    """The text of each page."""
    return pdf_text(pdf, tmp_path).split("\f")[:-1]
