"""The browser test kit works: a page served on loopback, opened in the system's Chromium.

The page shows a QR code made by the ``qrcode`` package, as the verification website will; its
screenshot must give back the encoded link, and its printout must be an A4 PDF.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import qrcode
from PIL import Image, ImageDraw
from playwright.sync_api import Page
from pypdf import PdfReader

from tests.browser import DESKTOP, PHONE, Screen, decode_qr, on_screens, print_pdf, save_screenshot

# registers the fixtures browser, page, screen and artifacts (a no-op once conftest.py does)
pytest_plugins = ["tests.browser"]

LINK = "https://verifikasi.example/v/0123abcd4567ef89a0b1c2d3e4f5a6b7"

PAGE = f"""<!doctype html>
<html lang="id">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Verifikasi surat</title>
<style>
  body {{ font-family: sans-serif; margin: 16px; }}
  img {{ width: 240px; height: 240px; image-rendering: pixelated; }}
</style>
</head>
<body>
<h1>Verifikasi surat</h1>
<p>Pindai kode ini untuk memeriksa keaslian surat.</p>
<img src="/qr.png" alt="{LINK}">
</body>
</html>
"""


def _qr_png(text: str) -> bytes:
    out = io.BytesIO()
    qrcode.make(text, border=4).save(out)
    return out.getvalue()


class _Site(BaseHTTPRequestHandler):
    files: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        found = self.files.get(self.path)
        if found is None:
            self.send_error(404)
            return
        kind, body = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the test's output would fill with one line per request


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """The page and its QR code image served on a free loopback port; its address."""
    _Site.files = {
        "/": ("text/html; charset=utf-8", PAGE.encode()),
        "/qr.png": ("image/png", _qr_png(LINK)),
    }
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@on_screens(PHONE, DESKTOP)
def test_qr_code_on_the_page_reads_back(
    page: Page, screen: Screen, site: str, artifacts: Path
) -> None:
    page.goto(site)
    png = save_screenshot(page, artifacts, "verification")
    assert (artifacts / "verification.png").read_bytes() == png
    with Image.open(io.BytesIO(png)) as shot:
        assert shot.width == screen.width * screen.device_scale_factor
    assert decode_qr(png) == [LINK]


def test_printed_page_is_a4(page: Page, site: str, artifacts: Path) -> None:
    page.goto(site)
    pdf = print_pdf(page, artifacts / "verification.pdf")
    assert (artifacts / "verification.pdf").read_bytes() == pdf
    (sheet,) = PdfReader(io.BytesIO(pdf)).pages
    # A4 is 595.3 × 841.9 points; Chromium rounds the sheet to whole CSS pixels
    size = (float(sheet.mediabox.width), float(sheet.mediabox.height))
    assert size == pytest.approx((595.3, 841.9), abs=1.5)
    assert "Verifikasi surat" in sheet.extract_text()


def test_image_without_qr_code_gives_nothing() -> None:
    picture = Image.new("RGB", (400, 300), "white")
    ImageDraw.Draw(picture).rectangle((50, 50, 350, 250), outline="black", width=8)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    assert decode_qr(out.getvalue()) == []


def test_two_qr_codes_read_in_order() -> None:
    sheet = Image.new("RGB", (900, 500), "white")
    for text, left in (("right", 480), ("left", 20)):
        with Image.open(io.BytesIO(_qr_png(text))) as code:
            sheet.paste(code.convert("RGB"), (left, 40))
    out = io.BytesIO()
    sheet.save(out, format="PNG")
    assert decode_qr(out.getvalue()) == ["left", "right"]
