"""A warm LibreOffice that docgen starts, bounds with a timeout, restarts, and shuts down.

LibreOffice takes seconds to start and a fraction of a second to convert a letter, so docgen
keeps one running for the life of the process instead of one cold ``soffice`` per letter. The
server side is unoserver, which must run under a Python that can import LibreOffice's ``uno``
module (Debian's ``python3-uno`` for ``/usr/bin/python3``); docgen itself talks to it with plain
XML-RPC over loopback, so docgen's own interpreter needs no ``uno``.

Example::

    with LibreOfficeConverter(settings.converter) as converter:
        pdf = converter.docx_to_pdf(docx_bytes)
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import xmlrpc.client

from docgen.config import ConverterSettings
from docgen.errors import ConverterError
from docgen.resources import Closing

__all__ = ["PDFA_FILTER_OPTIONS", "LibreOfficeConverter"]

log = logging.getLogger(__name__)

PDFA_FILTER_OPTIONS = (
    "SelectPdfVersion=3",  # PDF/A-3b: allows the embedded request JSON; level b needs no tags
    "EmbedStandardFonts=true",
    "ExportFormFields=false",
    "ExportBookmarksToPDFDestination=true",  # bookmarks mark the spaces signing fills in
)
"""LibreOffice's ``writer_pdf_Export`` options: PDF/A-3b with every font embedded."""


_DOCX_IMPORT_FILTER = "MS Word 2007 XML"


class _TimeoutTransport(xmlrpc.client.Transport):
    """XML-RPC transport whose socket gives up after ``timeout`` seconds."""

    def __init__(self, timeout: float):
        super().__init__()
        self._timeout = timeout

    def make_connection(self, host: str | tuple[str, dict[str, str]]) -> http.client.HTTPConnection:
        connection = super().make_connection(host)
        connection.timeout = self._timeout
        return connection


def _die_with_parent() -> None:
    """In the converter's process: ask Linux for SIGTERM when docgen's process dies.

    The converter runs in a session of its own (a Ctrl-C aimed at docgen must not kill it in
    the middle of a letter), so it would outlive a docgen killed with SIGKILL; this makes it
    stop (and stop LibreOffice) instead.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _find_uno_python(configured: str) -> str:
    """An interpreter that can import ``uno``: the configured one, ours, or Debian's."""
    candidates = [configured] if configured else [sys.executable, "/usr/bin/python3"]
    for candidate in candidates:
        try:
            found = subprocess.run(
                [candidate, "-c", "import uno, unoserver"],
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if found.returncode == 0:
            return candidate
    raise ConverterError(
        "No Python that can import LibreOffice's 'uno' module and unoserver was found "
        f"(tried {', '.join(candidates)}). Install LibreOffice's Python bridge (python3-uno) "
        "and unoserver for that Python, or set converter.python in the settings."
    )


class LibreOfficeConverter(Closing):
    """One warm LibreOffice (through unoserver), shared by every thread of the process.

    Started lazily on first use; a conversion that exceeds the timeout, or a server that died,
    makes the next conversion start a fresh one. Conversions are serialised: one LibreOffice
    converts one document at a time.
    """

    def __init__(self, settings: ConverterSettings | None = None):
        """Prepare (not yet start) a converter with these settings."""
        self._settings = settings or ConverterSettings()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._proxy: xmlrpc.client.ServerProxy | None = None
        self._python: str | None = None
        self.starts = 0
        """How many times LibreOffice was started (1 while it stays warm)."""
        self._converted = 0

    @property
    def pid(self) -> int | None:
        """Process id of the running converter server, if one runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def docx_to_pdf(self, docx: bytes) -> bytes:
        """Convert a DOCX document to PDF/A-3b; restart the converter once if it died."""
        with self._lock:
            for attempt in (1, 2):
                proxy = self._ensure_started()
                try:
                    result = proxy.convert(
                        None,
                        xmlrpc.client.Binary(docx),
                        None,
                        "pdf",
                        "writer_pdf_Export",
                        list(PDFA_FILTER_OPTIONS),
                        False,  # letters have no indexes to update
                        _DOCX_IMPORT_FILTER,  # never let LibreOffice guess: bad input must fail
                    )
                except TimeoutError:
                    self._stop()
                    raise ConverterError(
                        "LibreOffice did not finish converting the letter within "
                        f"{self._settings.timeout_seconds:g} s; it was restarted"
                    ) from None
                except xmlrpc.client.Fault as fault:
                    raise ConverterError(
                        f"LibreOffice could not convert the letter: {fault.faultString.strip()}"
                    ) from None
                except (OSError, xmlrpc.client.ProtocolError, http.client.HTTPException) as error:
                    self._stop()
                    if attempt == 2:
                        raise ConverterError(f"The LibreOffice converter failed: {error}") from None
                    log.warning("LibreOffice converter lost (%s); restarting it", error)
                    continue
                if not isinstance(result, xmlrpc.client.Binary):
                    raise ConverterError("The LibreOffice converter returned no document")
                self._converted += 1
                return result.data
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop LibreOffice and remove its temporary profile."""
        with self._lock:
            self._stop()

    def _ensure_started(self) -> xmlrpc.client.ServerProxy:
        recycle = self._settings.recycle_after
        if recycle and self._converted >= recycle:
            log.info("recycling LibreOffice after %d letters", self._converted)
            self._stop()
        if self._proxy is not None and self._process is not None and self._process.poll() is None:
            return self._proxy
        self._stop()
        self._start()
        assert self._proxy is not None
        return self._proxy

    def _start(self) -> None:
        settings = self._settings
        if shutil.which(settings.soffice) is None:
            raise ConverterError(
                f"LibreOffice ({settings.soffice}) is not installed; the DOCX letters need it"
            )
        self._python = self._python or _find_uno_python(settings.python)
        self._profile = tempfile.TemporaryDirectory(prefix="docgen-lo-")
        port, uno_port = _free_port(settings.host), _free_port(settings.host)
        command = [
            self._python, "-m", "unoserver.server",
            "--interface", settings.host, "--uno-interface", settings.host,
            "--port", str(port), "--uno-port", str(uno_port),
            "--executable", shutil.which(settings.soffice) or settings.soffice,
            "--user-installation", self._profile.name,
            "--conversion-timeout", str(max(1, int(settings.timeout_seconds))),
            "--quiet",
        ]  # fmt: skip
        log.info("starting LibreOffice converter on %s:%d", settings.host, port)
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # so a Ctrl-C aimed at docgen does not kill it mid-letter
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            env={**os.environ, "SAL_USE_VCLPLUGIN": "svp"},
        )
        self.starts += 1
        self._converted = 0
        url = f"http://{settings.host}:{port}"
        # the conversion timeout is enforced by unoserver; the socket waits a little longer
        self._proxy = xmlrpc.client.ServerProxy(
            url, transport=_TimeoutTransport(settings.timeout_seconds + 10), allow_none=True
        )
        probe = xmlrpc.client.ServerProxy(url, transport=_TimeoutTransport(5), allow_none=True)
        deadline = time.monotonic() + settings.startup_timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            with contextlib.suppress(OSError, xmlrpc.client.Error, http.client.HTTPException):
                probe.info()
                return
            time.sleep(0.2)
        self._stop()
        raise ConverterError(
            "LibreOffice did not start within "
            f"{settings.startup_timeout_seconds:g} s (is libreoffice-writer installed?)"
        )

    def _stop(self) -> None:
        process, self._process, self._proxy = self._process, None, None
        if process is not None and process.poll() is None:
            # unoserver forwards SIGTERM to LibreOffice; kill the group if it lingers
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        if process is not None:
            # LibreOffice runs in the server's own process group: make sure none of it survives
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None
