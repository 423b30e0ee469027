"""What a viewer shows: poppler's pdftotext, pdfinfo and pdfdetach, run on a file.

A forgery test uses these to show the forgery is effective (a viewer shows the forged content)
before it shows that docgen rejects it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from docgen.render.pdf import ATTACHMENT_NAME

__all__ = ["attachment", "info", "page_one", "xmp"]


def _write(pdf: bytes, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "viewed.pdf"
    path.write_bytes(pdf)
    return path


def _run(*command: str) -> str:
    run = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    return run.stdout


def page_one(pdf: bytes, folder: Path) -> str:
    """The text of page 1 as pdftotext reads it, white space collapsed to single spaces."""
    # -raw: in the order the page draws it, so an overlay's text stays in one piece even where
    # it lies over the letter's own text
    text = _run(
        "pdftotext", "-raw", "-enc", "UTF-8", "-f", "1", "-l", "1", str(_write(pdf, folder)), "-"
    )
    return " ".join(text.split())


def info(pdf: bytes, folder: Path) -> str:
    """What pdfinfo prints (the document information dictionary)."""
    return _run("pdfinfo", "-enc", "UTF-8", str(_write(pdf, folder)))


def signatures(pdf: bytes, folder: Path) -> str:
    """What pdfsig lists of the signatures and document timestamps (their fields' names)."""
    return _run("pdfsig", str(_write(pdf, folder)))


def xmp(pdf: bytes, folder: Path) -> str:
    """The XMP metadata as pdfinfo prints it."""
    return _run("pdfinfo", "-meta", str(_write(pdf, folder)))


def attachment(pdf: bytes, folder: Path) -> dict[str, Any]:
    """The embedded request as pdfdetach extracts it."""
    path = _write(pdf, folder)
    out = folder / "detached"
    out.mkdir(exist_ok=True)
    subprocess.run(
        ["pdfdetach", "-saveall", "-o", str(out), str(path)],
        capture_output=True,
        check=True,
        timeout=60,
    )
    loaded: dict[str, Any] = json.loads((out / ATTACHMENT_NAME).read_bytes())
    return loaded
