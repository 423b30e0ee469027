"""The warm LibreOffice converter: restarts when it dies, reports failures clearly."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest
from docx import Document

from docgen.config import ConverterSettings
from docgen.errors import ConverterError
from docgen.render import Renderer
from docgen.render.converter import LibreOfficeConverter


def _docx(text: str) -> bytes:
    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_converter_restarts_after_libreoffice_dies(renderer: Renderer) -> None:
    converter = renderer.converter
    assert converter.docx_to_pdf(_docx("sebelum")).startswith(b"%PDF")
    starts, pid = converter.starts, converter.pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert converter.docx_to_pdf(_docx("sesudah")).startswith(b"%PDF")
    assert converter.starts == starts + 1
    assert converter.pid not in (None, pid)


def test_unreadable_input_is_a_converter_error_and_the_converter_survives(
    renderer: Renderer,
) -> None:
    converter = renderer.converter
    with pytest.raises(ConverterError, match="could not convert"):
        converter.docx_to_pdf(b"this is not a word document")
    starts = converter.starts
    assert converter.docx_to_pdf(_docx("masih hidup")).startswith(b"%PDF")
    assert converter.starts == starts


def test_warm_conversions_reuse_one_process(renderer: Renderer) -> None:
    converter = renderer.converter
    converter.docx_to_pdf(_docx("pemanasan"))
    starts, pid = converter.starts, converter.pid
    for index in range(3):
        converter.docx_to_pdf(_docx(f"surat {index}"))
    assert (converter.starts, converter.pid) == (starts, pid)


def test_missing_libreoffice_is_a_clear_error() -> None:
    converter = LibreOfficeConverter(ConverterSettings(soffice="no-such-soffice"))
    with pytest.raises(ConverterError, match="not installed"):
        converter.docx_to_pdf(_docx("x"))
    converter.close()


def test_libreoffice_is_recycled_after_the_configured_number_of_letters() -> None:
    with LibreOfficeConverter(ConverterSettings(recycle_after=2)) as converter:
        for index in range(3):
            assert converter.docx_to_pdf(_docx(f"surat {index}")).startswith(b"%PDF")
        assert converter.starts == 2  # the third letter came from a fresh LibreOffice
