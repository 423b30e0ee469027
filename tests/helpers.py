"""Helpers shared by the tests: paths and an independent PDF text reader (poppler)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from docgen.models import LetterRequest
from scripts.demo_pki import demo_officials as officials_of_demo

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def one_page_example(stem: str) -> dict[str, Any]:
    """An example request cut to one page (one item, condition and reason; no copies).

    Quick to render, for tests that issue many letters.
    """
    data: dict[str, Any] = json.loads((EXAMPLES / f"{stem}.json").read_bytes())
    decision = data["decision"]
    for holder, part in ((data, "items"), (decision, "conditions"), (decision, "reasons")):
        if holder.get(part):
            holder[part] = holder[part][:1]
    data["copies"] = []
    return data


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


def demo_officials() -> str:
    """The demo settings' ``[signing.officials]`` table, for the settings files tests write."""
    lines = ["[signing.officials]"]
    for code, listed in officials_of_demo().items():
        entries = ", ".join(
            "{" + ", ".join(f"{k} = {json.dumps(v)}" for k, v in entry.items()) + "}"
            for entry in listed
        )
        lines.append(f"{code} = [{entries}]")
    return "\n".join(lines) + "\n"
