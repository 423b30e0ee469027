"""One pass from rendering to signature gives the letter the two-step path gave.

The Issuer renders a letter without its attachment and has the signer embed the request, draw
the QR code and sign in one incremental update. The public two-step path (``render_final`` with
the attachment, then ``PadesSigner.sign``) is kept, and each example is made both ways with the
same number, date and address: text, attachment, PDF/A identification, signature field and
appearance must be the same, and the one-pass letter one revision shorter.
"""

from __future__ import annotations

import io
import re
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from docgen._pdf import ATTACHMENT_NAME, read_request
from docgen.config import Settings
from docgen.render import Renderer
from docgen.sign import PadesSigner, open_backend
from docgen.sign.appearance import qr_operators
from tests.helpers import EXAMPLE_FILES, load_request, pdf_text

URL = "https://verifikasi.example.test/surat/0123456789abcdef0123456789abcdef"


def _pages(node: Any) -> list[Any]:
    """The page objects in order, from a page tree node."""
    node = node.get_object()
    if node["/Type"] == "/Page":
        return [node]
    return [page for kid in node["/Kids"] for page in _pages(kid)]


def _structure(pdf: bytes) -> dict[str, Any]:
    """What a reader sees of a signed letter, apart from its text."""
    reader = PdfFileReader(io.BytesIO(pdf))
    root = reader.root
    metadata = root["/Metadata"].get_object().data.decode()
    (field,) = [f.get_object() for f in root["/AcroForm"]["/Fields"]]
    pages = _pages(root["/Pages"])
    on_page = [
        index
        for index, page in enumerate(pages)
        for annotation in page.get("/Annots", [])
        if annotation.get_object().get("/FT") == "/Sig" or annotation.get_object() is field
    ]
    names = root["/Names"]["/EmbeddedFiles"]["/Names"]
    return {
        "pages": len(pages),
        "pdfa": re.findall(r'(?<!/)pdfaid:(?:part|conformance)(?:>|=")([^<"]+)', metadata),
        "attachments": [str(names[i]) for i in range(0, len(names), 2)],
        "af": [str(spec.get_object()["/F"]) for spec in root["/AF"]],
        "field": (str(field["/T"]), [round(float(v)) for v in field["/Rect"]], on_page),
        "appearance box": [round(float(v), 1) for v in field["/AP"]["/N"].get_object()["/BBox"]],
        "docmdp": int(root["/Perms"]["/DocMDP"]["/Reference"][0]["/TransformParams"]["/P"]),
        "revisions": reader.xrefs.total_revisions,
    }


@pytest.mark.parametrize("stem", [path.stem for path in EXAMPLE_FILES])
def test_one_pass_gives_the_letter_the_two_steps_gave(
    stem: str, renderer: Renderer, settings: Settings, tmp_path: Path
) -> None:
    request = load_request(next(p for p in EXAMPLE_FILES if p.stem == stem))
    service = renderer.catalogue.check_request(request, today=date.today())
    backend = open_backend(settings.signing.keys[service.directorate_general])
    pades = PadesSigner(settings)
    final: dict[str, Any] = {
        "number": "B-1/TEST/IND/2026",
        "letter_date": date.today(),
        "verification_url": URL,
    }
    two_steps = pades.sign(
        renderer.render_final(request, **final).pdf, backend, request.signatory, URL
    )
    rendered = renderer.render_final(request, **final, checked=service, attach=False)
    one_pass = pades.sign(rendered.pdf, backend, request.signatory, URL, attach=request)

    # the signature's look names its minute: the two signings may fall either side of one
    minute = re.compile(r"pukul \d\d\.\d\d")
    text = [
        minute.sub("pukul HH.MM", pdf_text(pdf, tmp_path)) for pdf in (one_pass.pdf, two_steps.pdf)
    ]
    assert text[0] == text[1]
    assert read_request(one_pass.pdf) == read_request(two_steps.pdf) == request
    before, after = _structure(two_steps.pdf), _structure(one_pass.pdf)
    assert after["attachments"] == after["af"] == [ATTACHMENT_NAME]
    assert after["pdfa"] == ["3", "B"]
    assert str(PdfFileReader(io.BytesIO(one_pass.pdf)).root.get("/Version", "/1.7")) <= "/1.7"
    assert after["revisions"] == before["revisions"] - 1, "one update, not two"
    assert {k: v for k, v in after.items() if k != "revisions"} == {
        k: v for k, v in before.items() if k != "revisions"
    }
    # at B-B the signature covers the whole file: its hashes are the file's, computed once
    assert one_pass.signed_sha256 == one_pass.sha256


def test_the_qr_code_draws_runs_of_modules_as_one_rectangle() -> None:
    operators = qr_operators(URL, 0, 0, 100).decode()
    rectangles = operators.count(" re")
    assert 100 < rectangles < 600, "runs, not one square per dark module (over 600 here)"


def test_a_signature_outgrowing_the_space_kept_for_it_is_signed_again(
    renderer: Renderer, settings: Settings, tmp_path: Path
) -> None:
    request = load_request(
        next(p for p in EXAMPLE_FILES if p.stem == "ilmate-pertek-baja-approved")
    )
    backend = open_backend(settings.signing.keys["ILMATE"])
    pades = PadesSigner(settings)
    pdf = renderer.render_final(
        request, number="B-2/TEST/IND/2026", letter_date=date.today(), verification_url=URL
    ).pdf
    first = pades.sign(pdf, backend, request.signatory, URL)
    ((space, kept),) = pades._reserved.items()  # learnt from the first signature
    assert 2000 < kept < 40000
    pades._reserved[space] = 512  # far too small for any signature
    again = pades.sign(pdf, backend, request.signatory, URL)
    assert pades._reserved[space] == kept, "estimated again, as the first time"
    for signed in (first, again):
        path = tmp_path / "signed.pdf"
        path.write_bytes(signed.pdf)
        checked = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
        assert "Signature is Valid" in checked.stdout, checked.stdout
