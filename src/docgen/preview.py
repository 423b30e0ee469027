"""Every letter of the catalogue at a glance (``docgen templates preview``).

Each service is rendered as a draft in both outcomes, twice: with its sample request, and with a
stress request made from it, whose every name and address is as long as the request model
allows, with 40 goods items (where the service has goods) of 10-character quantities. All the
drafts go, in catalogue order, into one PDF with a bookmark per letter; a contact sheet (PNG)
shows every page small, a row per letter, so that a reviewer spots an overflowing table or a
stray page without opening each one.

Example::

    with Renderer(settings) as renderer:
        letters = preview(renderer, Path("examples"), Path("preview.pdf"), Path("preview.png"))
"""

from __future__ import annotations

import io
import json
import subprocess
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pikepdf
from annotated_types import MaxLen
from PIL import Image, ImageDraw
from pydantic import BaseModel

from docgen.errors import DocgenError
from docgen.files import write_atomic
from docgen.models import (
    Addressee,
    ApplicationLetter,
    Company,
    LetterRequest,
    Outcome,
    Signatory,
)
from docgen.render import Renderer
from docgen.templatecheck import sample_path

__all__ = ["PreviewLetter", "preview", "stress_request"]

_STRESS_ITEMS = 40
_STRESS_QUANTITY = Decimal(99_999_999)  # printed 99.999.999: 10 characters
_STRESS_DESCRIPTION = 200  # characters: a long description (the model allows 500, no one writes it)
_THUMB_DPI = 24  # an A4 page 198 x 281 pixels
_PAGES_PER_ROW = 8
_LABEL_WIDTH = 260


@dataclass(frozen=True, slots=True)
class PreviewLetter:
    """One letter of the preview."""

    service: str
    outcome: Outcome
    kind: str
    """``sample`` or ``stress``."""
    pages: int


_STRETCHED: dict[str, tuple[type[BaseModel], tuple[str, ...]]] = {
    "applicant": (Company, ("name", "address")),
    "application": (ApplicationLetter, ("subject",)),
    "addressee": (Addressee, ("title", "organisation")),
    "signatory": (Signatory, ("title",)),
}
"""The texts a stress request makes as long as the request model allows."""


def _longest(model: type[BaseModel], name: str) -> int:
    """The ``max_length`` the model sets on field ``name``."""
    limits = [m.max_length for m in model.model_fields[name].metadata if isinstance(m, MaxLen)]
    return min(limits)


def _long(text: str, length: int) -> str:
    """``text`` repeated, word by word, to ``length`` characters (or one fewer: no end space)."""
    words = (text.split() or ["X"]) * (length // max(1, len(text)) + 2)
    return " ".join(words)[:length].rstrip()


def stress_request(request: LetterRequest) -> LetterRequest:
    """``request`` with every name and address at its longest and 40 goods items."""
    data = request.model_dump(mode="json")
    for part, (model, names) in _STRETCHED.items():
        for name in names:
            data[part][name] = _long(str(data[part].get(name) or name), _longest(model, name))
    items = data.get("items") or []
    if items:
        first = dict(items[0], quantity=str(_STRESS_QUANTITY))
        first["description"] = _long(first["description"], _STRESS_DESCRIPTION)
        data["items"] = [first] * _STRESS_ITEMS
    return LetterRequest.from_json(json.dumps(data).encode(), source="stress request")


def _render_into(
    combined: pikepdf.Pdf, renderer: Renderer, samples: Path, only: Collection[str]
) -> list[PreviewLetter]:
    """Render the letters and append each to ``combined``, with an outline entry."""
    for code in only:
        renderer.catalogue.get(code)  # CatalogueError naming the known codes
    letters = []
    with combined.open_outline() as outline:
        for service in renderer.catalogue:
            if only and service.code not in only:
                continue
            for outcome in Outcome:
                path = sample_path(samples, service.code, outcome)
                if not path.is_file():
                    raise DocgenError(f"{service.code} has no sample request {path}")
                sample = LetterRequest.from_json(path.read_bytes(), source=str(path))
                for kind, request in (("sample", sample), ("stress", stress_request(sample))):
                    pdf = renderer.render_draft(request, source=f"{path.name} ({kind})").pdf
                    first = len(combined.pages)
                    with pikepdf.open(io.BytesIO(pdf)) as document:
                        combined.pages.extend(document.pages)
                    letter = PreviewLetter(service.code, outcome, kind, len(combined.pages) - first)
                    title = f"{letter.service} {letter.outcome.value} ({letter.kind})"
                    outline.root.append(pikepdf.OutlineItem(title, first))
                    letters.append(letter)
    return letters


def _sheet(pdf: Path, letters: list[PreviewLetter], sheet: Path) -> None:
    """A PNG: a row per letter, its label then its pages, small."""
    with tempfile.TemporaryDirectory(prefix="docgen-preview-") as folder:
        subprocess.run(
            ["pdftoppm", "-r", str(_THUMB_DPI), "-png", str(pdf), str(Path(folder) / "p")],
            check=True,
            capture_output=True,
        )
        thumbs = sorted(Path(folder).glob("p-*.png"), key=lambda p: int(p.stem.split("-")[1]))
        images = [Image.open(path).convert("RGB") for path in thumbs]
    width, height = images[0].size
    gap = 6
    columns = min(_PAGES_PER_ROW, max(letter.pages for letter in letters))
    out = Image.new(
        "RGB",
        (_LABEL_WIDTH + columns * (width + gap), len(letters) * (height + gap)),
        "white",
    )
    draw = ImageDraw.Draw(out)
    page = 0
    for row, letter in enumerate(letters):
        top = row * (height + gap)
        label = f"{letter.service}\n{letter.outcome.value}, {letter.kind}\n{letter.pages} page(s)"
        draw.multiline_text((8, top + 8), label, fill="black")
        for column in range(min(letter.pages, columns)):
            left = _LABEL_WIDTH + column * (width + gap)
            out.paste(images[page + column], (left, top))
            draw.rectangle((left, top, left + width - 1, top + height - 1), outline="grey")
        page += letter.pages
    png = io.BytesIO()
    out.save(png, format="PNG", optimize=True)
    write_atomic(sheet, png.getvalue())


def preview(
    renderer: Renderer,
    samples: Path,
    pdf: Path,
    sheet: Path | None = None,
    *,
    only: Collection[str] = (),
) -> list[PreviewLetter]:
    """Render the letters of every service (or of those ``only`` names) into ``pdf``.

    With ``sheet``, the contact sheet of their pages is written there too.
    """
    with pikepdf.new() as combined:
        letters = _render_into(combined, renderer, samples, only)
        out = io.BytesIO()
        combined.save(out)
    write_atomic(pdf, out.getvalue())
    if sheet is not None:
        _sheet(pdf, letters, sheet)
    return letters
