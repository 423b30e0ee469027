"""The verification website in a real browser: Debian's Chromium, headless, against
``docgen serve`` on loopback. The QR code is read off the issued letter's rendered page, as a
phone's camera would; screenshots and printed pages are kept under build/test-artifacts/."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pypdf
from playwright.sync_api import Page

from docgen.render import Renderer
from tests.browser import DESKTOP, PHONE, decode_qr, on_screens, print_pdf, save_screenshot
from tests.web import REVOCATION_REASON, Letters, free_port, issue_letters, site

__all__ = ["site"]  # the module's site, served once for its tests


def _qr_of(letter: Path, folder: Path) -> list[str]:
    """The QR codes on a letter's pages, rendered at a phone camera's resolution."""
    subprocess.run(["pdftoppm", "-png", "-r", "200", letter, folder / "letter-page"], check=True)
    pages = sorted(folder.glob("letter-page*.png"))
    return [found for page in pages for found in decode_qr(page.read_bytes())]


def _upload(page: Page, file: Path) -> str:
    page.set_input_files("#letter", str(file))
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page.inner_text("main")


@on_screens(PHONE, DESKTOP)
def test_the_qr_code_leads_to_the_letters_page(
    site: tuple[str, Letters], page: Page, artifacts: Path
) -> None:
    _, letters = site
    (address,) = _qr_of(letters.valid.path, artifacts)
    assert address == letters.valid.verification_url
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text))
    answer = page.goto(address)
    assert answer is not None and answer.status == 200
    text = page.inner_text("main")
    assert "TERBIT DAN BERLAKU" in text and letters.valid.letter_number in text
    assert "PAdES B-LTA" in text
    # readable on a phone: nothing wider than the screen, the state at the top
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    top = page.locator(".state").bounding_box()
    assert top is not None and top["y"] < 200
    save_screenshot(page, artifacts, "letter")
    assert errors == [], "no error, no blocked resource (the style sheet obeys the policy)"


@on_screens(PHONE)
def test_a_revoked_letter_shows_revoked(
    site: tuple[str, Letters], page: Page, artifacts: Path
) -> None:
    _, letters = site
    (address,) = _qr_of(letters.revoked.path, artifacts)
    page.goto(address)
    text = page.inner_text("main")
    assert "DICABUT" in text and REVOCATION_REASON in text
    report = _upload(page, letters.revoked.path)
    assert "TIDAK SAH" in report and REVOCATION_REASON in report
    save_screenshot(page, artifacts, "revoked")


@on_screens(PHONE)
def test_checking_copies_on_the_letters_page(
    site: tuple[str, Letters],
    page: Page,
    artifacts: Path,
    tmp_path: Path,
    renderer: Renderer,
    pki_services: str,
) -> None:
    _, letters = site
    page.goto(letters.valid.verification_url)
    genuine = _upload(page, letters.valid.path)
    assert "SAH" in genuine and "TIDAK SAH" not in genuine
    assert "Berkas ini adalah surat yang diterbitkan dengan kode QR ini" in genuine
    save_screenshot(page, artifacts, "genuine")

    tampered = tmp_path / "tampered.pdf"
    data = bytearray(letters.valid.path.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered.write_bytes(bytes(data))
    page.goto(letters.valid.verification_url)
    report = _upload(page, tampered)
    assert "TIDAK SAH" in report and "GAGAL" in report, report
    save_screenshot(page, artifacts, "tampered")

    (tmp_path / "elsewhere").mkdir()
    elsewhere = issue_letters(tmp_path / "elsewhere", free_port(), renderer, pki_services)
    page.goto(letters.valid.verification_url)
    report = _upload(page, elsewhere.valid.path)
    assert "TIDAK SAH" in report and "BUKAN surat yang diterbitkan" in report
    assert "not issued by the register" in report
    save_screenshot(page, artifacts, "other-register")


def test_the_upload_page_in_english(site: tuple[str, Letters], page: Page) -> None:
    base, letters = site
    page.goto(f"{base}/verifikasi")
    page.click("text=English")
    assert "Check an electronic letter" in page.inner_text("main")
    report = _upload(page, letters.valid.path)
    assert "VALID" in report and "NOT VALID" not in report
    assert "Register" in report and "letter " + letters.valid.letter_number in report


def test_the_letters_page_prints_on_one_page(
    site: tuple[str, Letters], page: Page, artifacts: Path
) -> None:
    _, letters = site
    page.goto(letters.valid.verification_url)
    printed = print_pdf(page, artifacts / "printed.pdf")
    reader = pypdf.PdfReader(io.BytesIO(printed))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert letters.valid.letter_number in text and "TERBIT DAN BERLAKU" in text
    assert "Periksa salinan Anda" not in text, "the upload form is not printed"
