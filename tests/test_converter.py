"""The warm LibreOffice converter: restarts when it dies, reports failures clearly."""

from __future__ import annotations

import http.server
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from docx import Document

from docgen.config import ConverterSettings
from docgen.errors import ConverterError
from docgen.render import Renderer
from docgen.render.converter import (
    _JEMALLOC_OPTIONS,
    LibreOfficeConverter,
    _environment,
    _kill,
    _running,
)


def _docx(text: str) -> bytes:
    document = Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _docx_linking(url: str) -> bytes:
    """A DOCX whose only picture is an external link to ``url``."""
    document = Document()
    document.add_paragraph("gambar tertaut")
    out = io.BytesIO()
    document.save(out)
    source = zipfile.ZipFile(io.BytesIO(out.getvalue()))
    linked = io.BytesIO()
    with zipfile.ZipFile(linked, "w") as sink:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/document.xml":
                data = data.replace(b"</w:body>", _LINKED_PICTURE + b"</w:body>", 1)
            if info.filename == "word/_rels/document.xml.rels":
                link = (
                    f'<Relationship Id="rIdLinked" Type="http://schemas.openxmlformats.org/'
                    f'officeDocument/2006/relationships/image" Target="{url}" '
                    f'TargetMode="External"/></Relationships>'
                )
                data = data.replace(b"</Relationships>", link.encode())
            sink.writestr(info, data)
    return linked.getvalue()


_LINKED_PICTURE = (
    b'<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/'
    b'drawingml/2006/wordprocessingDrawing"><wp:extent cx="914400" cy="914400"/>'
    b'<wp:docPr id="99" name="linked"/><a:graphic xmlns:a="http://schemas.openxmlformats.org/'
    b'drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/'
    b'2006/picture"><pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/'
    b'picture"><pic:nvPicPr><pic:cNvPr id="99" name="linked"/><pic:cNvPicPr/></pic:nvPicPr>'
    b'<pic:blipFill><a:blip xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships" r:link="rIdLinked"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>'
    b'<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="914400" cy="914400"/></a:xfrm>'
    b'<a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData>'
    b"</a:graphic></wp:inline></w:drawing></w:r></w:p>"
)


def _alive_process(pid: int) -> bool:
    """Whether a process runs (not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


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


def _mapped_libraries(pid: int) -> str:
    with open(f"/proc/{pid}/maps", encoding="utf-8") as maps:
        return maps.read()


def test_libreoffice_runs_with_jemalloc(renderer: Renderer) -> None:
    converter = renderer.converter
    converter.docx_to_pdf(_docx("alokator"))
    assert converter.pid is not None
    assert "libjemalloc.so" in _mapped_libraries(converter.pid)
    with open(f"/proc/{converter.pid}/environ", "rb") as environ:
        assert f"MALLOC_CONF={_JEMALLOC_OPTIONS}".encode() in environ.read().split(b"\0")


def test_jemalloc_can_be_turned_off() -> None:
    environment = _environment(ConverterSettings(jemalloc=False))
    assert "libjemalloc" not in environment.get("LD_PRELOAD", "")
    assert "libjemalloc" in _environment(ConverterSettings()).get("LD_PRELOAD", "")


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


def test_a_killed_libreoffice_has_ended_before_the_kill_returns() -> None:
    # a stand-in whose command line names the pipe, as LibreOffice's does
    pipe = "docgen-test-kill"
    process = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", f"--accept=pipe,name={pipe};urp"],
        start_new_session=True,
    )
    try:
        time.sleep(0.2)
        assert _running(process.pid, pipe)
        _kill(process.pid, pipe)
        # a successor started now must not overlap with it: its memory is already freed
        assert not _alive_process(process.pid)
    finally:
        process.kill()
        process.wait()


def test_converters_sharing_a_folder_share_one_libreoffice(tmp_path: Path) -> None:
    settings = ConverterSettings(shared_folder=tmp_path / "lo")
    first, second = LibreOfficeConverter(settings), LibreOfficeConverter(settings)
    try:
        assert first.docx_to_pdf(_docx("pertama")).startswith(b"%PDF")
        assert first.docx_to_pdf(_docx("lagi")).startswith(b"%PDF")  # after the start settled
        assert second.docx_to_pdf(_docx("kedua")).startswith(b"%PDF")
        assert (first.starts, second.starts) == (1, 0)
        assert first.pid is not None and first.pid == second.pid
        pid = first.pid
        pipe = json.loads((tmp_path / "lo" / "state.json").read_text())["pipe"]
        socket_file = Path(f"/tmp/OSL_PIPE_{os.getuid()}_{pipe}")
        assert socket_file.exists()
        first.close()  # stops the LibreOffice it started; the other converter starts another
        assert not _alive_process(pid)
        assert not socket_file.exists(), "no socket file is left behind in /tmp"
        assert second.docx_to_pdf(_docx("ketiga")).startswith(b"%PDF")
        assert second.starts == 1 and second.pid not in (None, pid)
    finally:
        first.close()
        second.close()


def test_a_conversion_over_the_timeout_is_stopped_and_the_next_one_works(tmp_path: Path) -> None:
    folder = tmp_path / "lo"
    hasty = LibreOfficeConverter(ConverterSettings(shared_folder=folder, timeout_seconds=0.001))
    patient = LibreOfficeConverter(ConverterSettings(shared_folder=folder))
    try:
        assert patient.docx_to_pdf(_docx("pemanasan")).startswith(b"%PDF")
        pid = patient.pid
        assert pid is not None
        with pytest.raises(ConverterError, match="did not finish converting the letter within"):
            hasty.docx_to_pdf(_docx("terlalu lama"))
        assert not _alive_process(pid)  # the hung LibreOffice was stopped
        assert patient.docx_to_pdf(_docx("berikutnya")).startswith(b"%PDF")
        assert patient.pid not in (None, pid)
    finally:
        hasty.close()
        patient.close()


_CONVERT_AND_WAIT = """
import io, sys, time
from docx import Document
from docgen.render.converter import LibreOfficeConverter
document = Document()
document.add_paragraph("x")
out = io.BytesIO()
document.save(out)
converter = LibreOfficeConverter()
converter.docx_to_pdf(out.getvalue())
print(converter.pid, flush=True)
time.sleep(600)
"""


def test_libreoffice_dies_with_the_process_that_started_it() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _CONVERT_AND_WAIT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        pid = int(child.stdout.readline())
        assert _alive_process(pid)
    finally:
        child.kill()  # SIGKILL: no clean-up code of docgen's runs
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    deadline = time.monotonic() + 10
    while _alive_process(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive_process(pid)


def test_libreoffice_fetches_no_linked_picture(tmp_path: Path) -> None:
    # a DOCX whose body links an external image: LibreOffice must not fetch it
    requested: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/pixel.png"
        with LibreOfficeConverter() as converter:
            assert converter.docx_to_pdf(_docx_linking(url)).startswith(b"%PDF")
    finally:
        server.shutdown()
        server.server_close()
    assert requested == []


def test_a_stale_shared_folder_never_kills_another_process(tmp_path: Path) -> None:
    # the folder names a process id from before a reboot, now used by an unrelated process
    bystander = subprocess.Popen(["sleep", "60"], start_new_session=True)
    folder = tmp_path / "lo"
    folder.mkdir()
    stale = {"pid": bystander.pid, "pipe": "docgen-before-the-reboot", "converted": 3}
    (folder / "state.json").write_text(json.dumps(stale))
    try:
        with LibreOfficeConverter(ConverterSettings(shared_folder=folder)) as converter:
            assert converter.docx_to_pdf(_docx("setelah reboot")).startswith(b"%PDF")
            assert converter.starts == 1 and converter.pid != bystander.pid
        assert bystander.poll() is None, "the unrelated process was left alone"
    finally:
        bystander.kill()
        bystander.wait()
