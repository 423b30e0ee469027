"""Tampering with a signed letter is caught, each time with the specific check that failed.

Every case builds a tampered file from letters the session fixtures already issued (one
HTML-path and one DOCX-path letter where the format matters), verifies it, and asserts the
verdict, which named check failed, and words of that check's detail. poppler's ``pdfsig`` is
the independent second opinion on the issued letters.
"""

from __future__ import annotations

import io
import json
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from docgen.cli import main
from docgen.config import KeySettings, Settings
from docgen.pipeline import Issuer
from docgen.register import Register
from docgen.render import Renderer
from docgen.reports import Check, IssuedLetter, Verdict, VerificationReport
from docgen.sign import PadesSigner, open_backend
from docgen.verify import Verifier
from scripts.demo_pki import DEMO_PKI, DemoPki, passphrase_for
from tests.helpers import EXAMPLES, load_request

HTML_STEM = "ilmate-pertek-baja-approved"
DOCX_STEM = "ikft-pertek-ban-approved"
STEMS = pytest.mark.parametrize("stem", [HTML_STEM, DOCX_STEM])
SIGNATURE_CHECKS = (
    "signature",
    "integrity",
    "cryptography",
    "trust",
    "coverage",
    "modifications",
    "certification",
)


# --- helpers ------------------------------------------------------------------------------------


def check(report: VerificationReport, name: str) -> Check:
    """The one check called ``name`` in the report."""
    found = [item for item in report.checks if item.name == name]
    assert len(found) == 1, f"expected one {name!r} check in {report.checks}"
    return found[0]


def failed(report: VerificationReport, name: str) -> str:
    """Assert the report is invalid because ``name`` failed; the failed check's detail."""
    assert report.verdict is Verdict.INVALID, report.reasons
    item = check(report, name)
    assert not item.passed, f"{name} passed: {report.checks}"
    return item.detail.lower()


def passed(report: VerificationReport, *names: str) -> None:
    """Assert every named check passed."""
    for name in names:
        item = check(report, name)
        assert item.passed, f"{name} failed: {item.detail} (all: {report.reasons})"


def byte_range(pdf: bytes) -> tuple[int, int, int, int]:
    """The /ByteRange of the (only) signature."""
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert match is not None, "no /ByteRange in the signed file"
    first, length, second, rest = (int(value) for value in match.groups())
    return first, length, second, rest


def flip_in_largest_stream(pdf: bytes) -> bytes:
    """Flip one bit in the middle of the largest stream inside the first signed range.

    The stream's length is unchanged, so the file still parses; only the signed bytes differ.
    That stream lies wholly before the signature's /Contents, so the flip is never in the hex.
    """
    _, signed_end, _, _ = byte_range(pdf)
    spans = [
        (match.end(), end)
        for match in re.finditer(rb"stream\r?\n", pdf[:signed_end])
        if (end := pdf.find(b"endstream", match.end(), signed_end)) > 0
    ]
    start, end = max(spans, key=lambda span: span[1] - span[0])
    assert end - start > 100, "no sizeable stream in the signed range"
    middle = (start + end) // 2
    return pdf[:middle] + bytes([pdf[middle] ^ 0x01]) + pdf[middle + 1 :]


def incremental(pdf: bytes, change: Callable[[IncrementalPdfFileWriter], None]) -> bytes:
    """``pdf`` with an incremental update made by ``change`` appended (signed bytes untouched)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    change(writer)
    out = io.BytesIO()
    writer.write(out)
    result = out.getvalue()
    assert result.startswith(pdf) and len(result) > len(pdf)
    return result


def draw_text(writer: IncrementalPdfFileWriter) -> None:
    """Add a content stream to page 1 that writes "DIBATALKAN" in Helvetica."""
    font = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Font"),
            generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
            generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica"),
        }
    )
    resources = generic.DictionaryObject(
        {
            generic.NameObject("/Font"): generic.DictionaryObject(
                {generic.NameObject("/FTamper"): writer.add_object(font)}
            )
        }
    )
    stream = generic.StreamObject(stream_data=b"BT /FTamper 36 Tf 120 420 Td (DIBATALKAN) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream), resources=resources)


def add_annotation(writer: IncrementalPdfFileWriter) -> None:
    """Append a /FreeText annotation to page 1's /Annots."""
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    annotation = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/FreeText"),
            generic.NameObject("/Rect"): generic.ArrayObject(
                [generic.NumberObject(value) for value in (100, 400, 400, 440)]
            ),
            generic.NameObject("/Contents"): generic.TextStringObject("Jumlah diubah: 9999 ton"),
            generic.NameObject("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
            generic.NameObject("/F"): generic.NumberObject(4),
            generic.NameObject("/P"): page_ref,
        }
    )
    existing = page.get("/Annots")
    annots = generic.ArrayObject(list(existing.get_object()) if existing is not None else [])
    annots.append(writer.add_object(annotation))
    page[generic.NameObject("/Annots")] = annots
    writer.update_container(page)


def pdfsig(pdf: bytes, path: Path) -> str:
    """What poppler's pdfsig says about ``pdf`` (an independent verifier)."""
    path.write_bytes(pdf)
    run = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    return run.stdout + run.stderr


needs_pdfsig = pytest.mark.skipif(shutil.which("pdfsig") is None, reason="poppler's pdfsig")


# --- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(issued: dict[str, IssuedLetter]) -> dict[str, bytes]:
    """The bytes of the two reference letters, as issued."""
    return {stem: issued[stem].path.read_bytes() for stem in (HTML_STEM, DOCX_STEM)}


@pytest.fixture(scope="module")
def finals(renderer: Renderer) -> dict[str, bytes]:
    """The two reference letters rendered as final (numbered, unsigned), for other signers."""
    return {
        stem: renderer.render_final(
            load_request(EXAMPLES / f"{stem}.json"),
            number=f"999/TEST/{stem.split('-')[0].upper()}/2026",
            letter_date=date(2026, 12, 1),
            verification_url="https://verifikasi.example.test/tamper",
        ).pdf
        for stem in (HTML_STEM, DOCX_STEM)
    }


@pytest.fixture(scope="module")
def sign_with(
    tmp_path_factory: pytest.TempPathFactory,
    pki: DemoPki,
    settings: Settings,
    finals: dict[str, bytes],
) -> Callable[[str, str], bytes]:
    """Sign a final reference letter with one of the demo PKI's signers, by label."""
    passphrase = tmp_path_factory.mktemp("keys") / "passphrase"
    passphrase.write_bytes(passphrase_for(DEMO_PKI) + b"\n")
    pades = PadesSigner(settings)

    def sign(label: str, stem: str) -> bytes:
        key = KeySettings(pkcs12=pki.p12[label], passphrase_file=passphrase, passphrase_env=None)
        request = load_request(EXAMPLES / f"{stem}.json")
        url = "https://verifikasi.example.test/tamper"
        return pades.sign(finals[stem], open_backend(key), request.signatory, url).pdf

    return sign


# --- the untampered baseline --------------------------------------------------------------------


@STEMS
def test_issued_letter_is_valid(stem: str, signed: dict[str, bytes], verifier: Verifier) -> None:
    report = verifier.verify(signed[stem])
    assert report.verdict is Verdict.VALID, report.reasons
    passed(report, *SIGNATURE_CHECKS, "register")
    assert report.signer and report.letter_number and report.register_status == "issued"


# --- tampering ----------------------------------------------------------------------------------


@STEMS
def test_flipped_byte_in_signed_range_fails_integrity(
    stem: str, signed: dict[str, bytes], verifier: Verifier
) -> None:
    tampered = flip_in_largest_stream(signed[stem])
    assert len(tampered) == len(signed[stem]) and tampered != signed[stem]
    report = verifier.verify(tampered)
    assert "altered" in failed(report, "integrity")
    passed(report, "signature")  # the file still parses and is signed; only its content changed
    assert "not issued by the register" in failed(report, "register")


@STEMS
def test_page_content_added_after_signing_is_caught(
    stem: str, signed: dict[str, bytes], verifier: Verifier
) -> None:
    report = verifier.verify(incremental(signed[stem], draw_text))
    passed(report, "signature", "integrity", "cryptography", "trust")  # signed bytes untouched
    assert "changed after signing" in failed(report, "modifications")
    assert "not respected" in failed(report, "certification")


@STEMS
def test_annotation_added_after_signing_is_caught(
    stem: str, signed: dict[str, bytes], verifier: Verifier
) -> None:
    report = verifier.verify(incremental(signed[stem], add_annotation))
    passed(report, "signature", "integrity", "cryptography", "trust")
    assert "changed after signing" in failed(report, "modifications")
    assert "not respected" in failed(report, "certification")


@STEMS
def test_signer_outside_the_trust_roots_fails_trust_only(
    stem: str, sign_with: Callable[[str, str], bytes], verifier: Verifier, pki: DemoPki
) -> None:
    pdf = sign_with("signer-rogue", stem)
    report = verifier.verify(pdf)
    assert "not trusted" in failed(report, "trust")
    passed(report, "signature", "integrity", "cryptography", "coverage", "modifications")
    # the same file is trusted once its own root is: the failure was about trust (offline,
    # its revocation cannot be checked, and with neither register nor the ministry's signing
    # certificates nothing ties it to the ministry: unchecked rather than valid)
    trusting_rogue = Verifier([pki.rogue_root_cert], None).verify(pdf)
    passed(trusting_rogue, "trust", "structure")
    assert trusting_rogue.verdict is Verdict.UNCHECKED
    unchecked = [check.name for check in trusting_rogue.checks if not check.passed]
    assert unchecked == ["revocation", "signer"]


@STEMS
def test_expired_signing_certificate_fails_trust(
    stem: str, sign_with: Callable[[str, str], bytes], verifier: Verifier
) -> None:
    report = verifier.verify(sign_with("signer-expired", stem))
    detail = failed(report, "trust")
    assert "not trusted" in detail
    assert "expired" in detail, detail
    passed(report, "signature", "integrity", "cryptography")


@STEMS
def test_truncated_file_is_invalid_without_an_exception(
    stem: str, signed: dict[str, bytes], verifier: Verifier
) -> None:
    data = signed[stem]
    report = verifier.verify(data[: len(data) // 2])
    assert report.verdict is Verdict.INVALID
    reasons = " ".join(report.reasons).lower()
    assert not check(report, "signature").passed or not check(report, "integrity").passed
    assert "unreadable" in reasons or "not a readable pdf" in reasons or "altered" in reasons


def test_unsigned_draft_is_not_signed(renderer: Renderer, verifier: Verifier) -> None:
    draft = renderer.render_draft(load_request(EXAMPLES / f"{HTML_STEM}.json"))
    report = verifier.verify(draft.pdf)
    assert "not signed" in failed(report, "signature")
    assert report.signer is None


@pytest.mark.parametrize(
    "data",
    [random.Random(20260115).randbytes(50_000), b"", b"%PDF-1.7\n", b"%PDF-1.7\n%%EOF\n"],
    ids=["random", "empty", "header-only", "header-and-eof"],
)
def test_garbage_is_invalid_without_an_exception(data: bytes, verifier: Verifier) -> None:
    report = verifier.verify(data)
    assert report.verdict is Verdict.INVALID
    detail = failed(report, "signature")
    assert any(word in detail for word in ("unreadable", "not a readable pdf", "not signed"))


def test_missing_file_is_unchecked(tmp_path: Path, verifier: Verifier) -> None:
    report = verifier.verify_file(tmp_path / "no-such-letter.pdf")
    assert report.verdict is Verdict.UNCHECKED
    assert not check(report, "file").passed
    assert "cannot read" in check(report, "file").detail


@STEMS
def test_bytes_appended_after_the_signed_file_are_not_covered(
    stem: str, signed: dict[str, bytes], verifier: Verifier
) -> None:
    data = signed[stem]
    assert data.rstrip().endswith(b"%%EOF")
    report = verifier.verify(data + b"%x\n")
    # the letter itself is intact and in the register, but the file carries bytes that no
    # signature covers and that are no timestamp or validation-data revision
    assert "does not cover the whole document" in failed(report, "coverage")
    passed(report, "integrity", "cryptography", "trust", "register")


# --- revocation in the register, library and command line ---------------------------------------


@pytest.fixture(scope="module")
def revoked(
    tmp_path_factory: pytest.TempPathFactory, pki: DemoPki, renderer: Renderer
) -> tuple[Path, IssuedLetter, str]:
    """A config file with its own register, and a letter issued there and then revoked."""
    work = tmp_path_factory.mktemp("revocation")
    config = work / "docgen.toml"
    config.write_text(
        f'output = "{work / "letters"}"\n\n[letter_register]\npath = "{work / "register.db"}"\n',
        encoding="utf-8",
    )
    reason = "Dicabut atas permintaan pemohon: data tidak sesuai (uji)"
    Register.create(work / "register.db").close()
    with Issuer(Settings.load(config), renderer=renderer) as own:
        letter = own.issue(load_request(EXAMPLES / f"{HTML_STEM}.json"))
        own.register.revoke(letter.letter_number, reason)
    return config, letter, reason


def test_revoked_letter_fails_the_register_check(revoked: tuple[Path, IssuedLetter, str]) -> None:
    config, letter, reason = revoked
    report = Verifier.from_settings(Settings.load(config)).verify_file(letter.path)
    detail = check(report, "register").detail
    assert failed(report, "register")
    assert "revoked" in detail and reason in detail and letter.letter_number in detail
    assert report.register_status == "revoked"
    passed(report, *SIGNATURE_CHECKS)  # the signature itself is still fine


def test_cli_verify_reports_the_revocation(revoked: tuple[Path, IssuedLetter, str]) -> None:
    config, letter, reason = revoked
    result = CliRunner().invoke(main, ["--config", str(config), "verify", str(letter.path)])
    assert result.exit_code == 1, result.output
    assert "INVALID" in result.output
    assert reason in result.output


def test_cli_verify_json_is_one_object_per_file(
    revoked: tuple[Path, IssuedLetter, str], signed: dict[str, bytes], tmp_path: Path
) -> None:
    config, letter, reason = revoked
    other = tmp_path / "other.pdf"
    other.write_bytes(signed[DOCX_STEM])  # valid, but not in this config's register
    result = CliRunner().invoke(
        main, ["--config", str(config), "verify", "--json", str(letter.path), str(other)]
    )
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    reports = [json.loads(line) for line in lines]
    assert [item["file"] for item in reports] == [str(letter.path), str(other)]
    assert all(item["verdict"] == "invalid" for item in reports)
    register = {check["name"]: check for check in reports[0]["checks"]}["register"]
    assert register["passed"] is False and reason in register["detail"]


# --- an independent verifier: poppler's pdfsig --------------------------------------------------


@needs_pdfsig
def test_pdfsig_accepts_every_issued_letter(
    issued: dict[str, IssuedLetter], tmp_path: Path
) -> None:
    for stem, letter in issued.items():
        output = pdfsig(letter.path.read_bytes(), tmp_path / f"{stem}.pdf")
        assert "Signature is Valid" in output, f"{stem}: {output}"
        assert "Total document signed" in output, f"{stem}: {output}"


@needs_pdfsig
@STEMS
def test_pdfsig_rejects_the_flipped_byte(
    stem: str, signed: dict[str, bytes], tmp_path: Path
) -> None:
    output = pdfsig(flip_in_largest_stream(signed[stem]), tmp_path / "flipped.pdf")
    assert "Signature is Valid" not in output, output


# --- reports that stay readable and blame the right thing ---------------------------------------


def test_modification_detail_stays_readable(signed: dict[str, bytes], verifier: Verifier) -> None:
    report = verifier.verify(incremental(signed[DOCX_STEM], add_annotation))
    assert len(check(report, "modifications").detail) <= 500


def test_flipped_byte_does_not_blame_the_certificate(
    signed: dict[str, bytes], verifier: Verifier
) -> None:
    report = verifier.verify(flip_in_largest_stream(signed[HTML_STEM]))
    assert "not evaluated" in check(report, "trust").detail


def test_cli_verify_prints_no_traceback(
    sign_with: Callable[[str, str], bytes], tmp_path: Path
) -> None:
    rogue = tmp_path / "rogue.pdf"
    rogue.write_bytes(sign_with("signer-rogue", HTML_STEM))
    run = subprocess.run(
        [sys.executable, "-m", "docgen", "verify", "--no-register", str(rogue)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr[:2000]
