"""A warm LibreOffice that docgen starts, drives through UNO, bounds, restarts and recycles.

LibreOffice takes seconds to start and a fraction of a second to convert a letter, so docgen
keeps one running instead of one cold ``soffice`` per letter. docgen drives it directly through
LibreOffice's own Python bridge (``uno``, Debian's ``python3-uno``; docgen's interpreter must be
able to import it), loading each document *hidden*: no frame or view is built for it, which
makes a letter's import about a third faster than loading it as a visible document.

Several processes on one machine can share one LibreOffice through a folder
(``converter.shared_folder``; a batch run makes one for its workers). The folder holds a lock
that serialises conversions and starts (one LibreOffice converts one document at a time), and a
small state file: the running LibreOffice's process id, its pipe name and how many letters it
has converted. Whoever holds the lock and finds no LibreOffice answering starts a new one, so
any process may die without stopping the others. LibreOffice dies with the process that started
it (``PR_SET_PDEATHSIG``), even one killed with SIGKILL.

A conversion that exceeds ``converter.timeout_seconds`` is stopped by killing LibreOffice (the
next conversion starts a fresh one); after ``converter.recycle_after`` letters a fresh one is
started, because LibreOffice's memory grows with the documents it has converted. LibreOffice
runs with the jemalloc allocator when it is installed (``converter.jemalloc``): less CPU per
letter and less memory than with glibc's malloc.

**Threads and forks.** A converter is shared by threads (one conversion at a time). What it
holds is per process (:class:`~docgen.lazy.PerProcess`): a process forked from one that used it
makes its own connection and, for a private converter, its own folder and LibreOffice on its
first DOCX letter, and never uses, stops or removes its parent's.

**Temporary files.** A private converter's folder lies in the process's own temporary folder
(:func:`docgen.files.process_temp_dir`), removed when the process ends. Each LibreOffice gets a
``TMPDIR`` of its own in the converter's folder (``tmp-<pipe>``), so its ``lu*.tmp`` folders
go there. Its sockets cannot move: LibreOffice always makes them in ``/tmp``
(``OSL_PIPE_<uid>_...``), and removes them only when it exits cleanly, never when killed. So
when docgen kills a LibreOffice, it removes that LibreOffice's temporary folder and the socket
files it had bound; and before starting one, it removes what dead ones left: temporary folders
whose LibreOffice no longer runs, and docgen's LibreOffice socket files in ``/tmp`` that nothing
listens on any more.

Example::

    with LibreOfficeConverter(settings.converter) as converter:
        pdf = converter.docx_to_pdf(docx_bytes)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import functools
import importlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from docgen.config import ConverterSettings
from docgen.errors import ConverterError
from docgen.files import process_temp_dir
from docgen.lazy import PerProcess
from docgen.lifetime import die_with_parent
from docgen.resources import Closing

__all__ = ["PDFA_FILTER_DATA", "LibreOfficeConverter"]

log = logging.getLogger(__name__)

PDFA_FILTER_DATA: Mapping[str, bool | int] = {
    "SelectPdfVersion": 3,  # PDF/A-3b: allows the embedded request JSON; level b needs no tags
    "EmbedStandardFonts": True,
    "ExportFormFields": False,
    "ExportBookmarksToPDFDestination": True,  # bookmarks mark the spaces signing fills in
    "UseLosslessCompression": True,  # the logo as drawn, not re-encoded as a blurred JPEG
}
"""LibreOffice's ``writer_pdf_Export`` options: PDF/A-3b with every font embedded."""

_DOCX_IMPORT_FILTER = "MS Word 2007 XML"  # never let LibreOffice guess: bad input must fail
_RESTART_REQUESTED = 81  # soffice.bin's exit status after it initialised a new profile
_NEVER_EXECUTE = 0  # com.sun.star.document.MacroExecMode.NEVER_EXECUTE
_NO_UPDATE = 0  # com.sun.star.document.UpdateDocMode.NO_UPDATE: never update links
_UNTRUSTED_REFERER = "https://untrusted.invalid/"
"""Who LibreOffice is told a document comes from: not a trusted place, so that, with the
profile's BlockUntrustedRefererLinks, it fetches no linked picture or file (a template is
trusted, but nothing in a letter needs the network or other files, so none is reached)."""
_PROFILE_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop
 oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
</oor:items>
"""


def _uno() -> ModuleType:
    """LibreOffice's Python bridge, imported on first use (HTML-only users never need it)."""
    try:
        uno: ModuleType = importlib.import_module("uno")
    except ImportError:
        raise ConverterError(
            "LibreOffice's Python bridge (the 'uno' module, Debian package python3-uno) cannot "
            f"be imported by this Python ({sys.executable}); DOCX letters need it. Run docgen "
            "under Debian's python3, or a virtual environment made from it with "
            "--system-site-packages."
        ) from None
    return uno


def _die_with_parent() -> None:
    """In LibreOffice's process: ask Linux for SIGKILL when the process that started it dies.

    LibreOffice runs in a session of its own (a Ctrl-C aimed at docgen must not kill it in
    the middle of a letter), so it would outlive a docgen killed with SIGKILL; this stops it.
    """
    die_with_parent(signal.SIGKILL)


# Linux sends the death signal when the *thread* that started the child ends, not the process:
# LibreOffice is started from this one thread, which lives as long as the process, so that a
# web application's short-lived request threads may convert letters too. One per process: a
# forked child has no thread of its parent's pool, and work handed to that pool would wait for
# ever.
_launcher = PerProcess(
    lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="docgen-libreoffice-launcher")
)


def _launch(command: list[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start LibreOffice in a session of its own, to die with this process."""
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so a Ctrl-C aimed at docgen does not kill it mid-letter
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        env=env,
    )


_JEMALLOC_OPTIONS = "narenas:1,tcache_max:1024,tcache_nslots_small_max:4,tcache_nslots_large:2"
"""jemalloc's settings for LibreOffice: one arena, as LibreOffice works on one thread at a time
(its global lock), and small per-thread caches, since its many threads each kept their own:
measured over 120 letters, 147 MB instead of 188 MB (213 MB with glibc's malloc), at the same
speed."""


@functools.cache
def _jemalloc() -> str | None:
    """The installed jemalloc library's name (for ``LD_PRELOAD``), or None."""
    found = ctypes.util.find_library("jemalloc")
    if found is None:
        log.warning(
            "jemalloc is not installed (Debian package libjemalloc2): LibreOffice runs with the "
            "system's allocator, which is slower and takes more memory"
        )
    return found


def _environment(settings: ConverterSettings, tmp: Path | None = None) -> dict[str, str]:
    """LibreOffice's environment: docgen's, headless, its own ``TMPDIR``, jemalloc if present."""
    env = {**os.environ, "SAL_USE_VCLPLUGIN": "svp"}
    if tmp is not None:
        # its own temporary folder: LibreOffice leaves an lu*.tmp folder there when killed
        env["TMPDIR"] = str(tmp)
    library = _jemalloc() if settings.jemalloc else None
    if library is not None:
        # glibc's malloc is slow at the many small allocations of a DOCX import and PDF export
        env["LD_PRELOAD"] = " ".join(filter(None, (library, env.get("LD_PRELOAD"))))
        env.setdefault("MALLOC_CONF", _JEMALLOC_OPTIONS)
    return env


def _soffice_binary(configured: str) -> str:
    """The LibreOffice program to run: ``soffice.bin`` itself when ``soffice`` is its launcher.

    The launcher (a shell script, then ``oosplash``) would stand between docgen and LibreOffice,
    and the ask-to-die-with-the-parent request does not pass through it.
    """
    found = shutil.which(configured)
    if found is None:
        raise ConverterError(
            f"LibreOffice ({configured}) is not installed; the DOCX letters need it"
        )
    real = Path(found).resolve()
    binary = real.with_name("soffice.bin")
    return str(binary) if real.name == "soffice" and binary.is_file() else found


def _alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _running(pid: int, pipe: str) -> bool:
    """Whether ``pid`` is the LibreOffice listening on ``pipe``, still alive.

    The command line is compared because a shared folder outlives its LibreOffice: after a
    reboot, its process id may belong to anything.
    """
    if not pid or not pipe or not _alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return f"name={pipe};".encode() in cmdline.read()
    except OSError:
        return False


_KILL_WAIT_SECONDS = 5.0
"""Longest :func:`_kill` waits for a killed LibreOffice to end."""


def _kill(pid: int, pipe: str, folder: Path | None = None) -> None:
    """Kill the LibreOffice on ``pipe`` and whatever it started (a process group of its own).

    Then remove what it leaves when killed: its sockets, and its temporary folder in ``folder``
    (the converter's folder).
    """
    if not _running(pid, pipe):
        _remove_leftovers(pipe, folder, [])
        return
    sockets = _socket_files(pid)  # read while it runs: a dead process's are no longer listed
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    # wait until it has ended (its memory freed), so that a successor started next (at a recycle,
    # after a timeout) never runs beside it
    deadline = time.monotonic() + _KILL_WAIT_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    _remove_leftovers(pipe, folder, sockets)


def _temp_folder(folder: Path, pipe: str) -> Path:
    """The ``TMPDIR`` of the LibreOffice on ``pipe``."""
    return folder / f"tmp-{pipe}"


def _remove_leftovers(pipe: str, folder: Path | None, sockets: list[Path]) -> None:
    """Remove what a LibreOffice that ended leaves: its temporary folder, its socket files."""
    if folder is not None:
        shutil.rmtree(_temp_folder(folder, pipe), ignore_errors=True)
    _remove_pipe_file(pipe)
    for path in sockets:
        if _dead_socket(path):
            with contextlib.suppress(OSError):
                path.unlink()


_SOCKET_PREFIX = f"OSL_PIPE_{os.getuid()}_"
"""How LibreOffice names its sockets in ``/tmp``: its UNO pipe (``docgen-<hex>``, ours) and the
pipe that keeps it a single instance per profile (``SingleOfficeIPC_<hash of the profile>``)."""


def _bound_sockets() -> dict[Path, set[str]]:
    """LibreOffice's socket files in ``/tmp`` that live sockets are bound to, with their inodes.

    From the kernel's table of Unix sockets (of this network namespace).
    """
    bound: dict[Path, set[str]] = {}
    with contextlib.suppress(OSError), open("/proc/net/unix", encoding="utf-8") as table:
        next(table, None)  # the header
        for line in table:
            # Num RefCount Protocol Flags Type St Inode Path
            fields = line.split()
            if len(fields) >= 8:
                path = Path(fields[7])
                if path.parent == Path("/tmp") and path.name.startswith(_SOCKET_PREFIX):
                    bound.setdefault(path, set()).add(fields[6])
    return bound


def _socket_files(pid: int) -> list[Path]:
    """The LibreOffice socket files in ``/tmp`` that the process ``pid`` has bound."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(fd.path)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    return sorted(path for path, used in _bound_sockets().items() if used & inodes)


def _dead_socket(path: Path, bound: dict[Path, set[str]] | None = None) -> bool:
    """Whether nothing listens on the socket file ``path`` any more (its process is gone).

    A live socket of this machine is in ``bound`` (:func:`_bound_sockets`) and is left alone
    without a knock; any other is asked: only a refused connection proves it dead.
    """
    if path in (_bound_sockets() if bound is None else bound):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(path))
    except ConnectionRefusedError:
        return True
    except OSError:
        return False  # missing, not a socket, or busy: nothing to remove, or not provably dead
    finally:
        probe.close()
    return False


_SOCKET_GRACE_SECONDS = 30.0
"""How old a socket file must be before it can be judged dead: a LibreOffice starting up makes
the file a moment before it listens on it, and must not lose it in between."""


def _sweep_dead_sockets() -> None:
    """Remove LibreOffice socket files in ``/tmp`` that nothing listens on, made long enough ago.

    A LibreOffice leaves them when it is killed with the docgen process that started it, or
    when it crashes. Only this user's files, and only LibreOffice's names (see
    :data:`_SOCKET_PREFIX`), are considered.
    """
    now = time.time()
    try:
        entries = list(os.scandir("/tmp"))
    except OSError:
        return
    bound = _bound_sockets()  # read after listing: a socket made in between is then in it
    for entry in entries:
        name = entry.name.removeprefix(_SOCKET_PREFIX)
        if name == entry.name or not name.startswith(("docgen-", "SingleOfficeIPC_")):
            continue
        with contextlib.suppress(OSError):
            info = entry.stat(follow_symlinks=False)
            if info.st_uid != os.getuid() or now - info.st_mtime < _SOCKET_GRACE_SECONDS:
                continue
            if _dead_socket(Path(entry.path), bound):
                os.unlink(entry.path)


def _pipes_running() -> set[str]:
    """The UNO pipe names of every LibreOffice running on this machine (by its command line)."""
    pipes = set()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"{entry.path}/cmdline", "rb") as cmdline:
            for argument in cmdline.read().split(b"\0"):
                if argument.startswith(b"--accept=pipe,name="):
                    pipes.add(argument[19:].split(b";", 1)[0].decode(errors="replace"))
    return pipes


def _sweep_dead_temp_folders(folder: Path) -> None:
    """Remove the temporary folders of the LibreOffices of ``folder`` that no longer run."""
    try:
        candidates = [p for p in folder.iterdir() if p.name.startswith("tmp-docgen-")]
    except OSError:
        return
    if not candidates:
        return
    running = _pipes_running()
    for path in candidates:
        if path.name.removeprefix("tmp-") not in running:
            shutil.rmtree(path, ignore_errors=True)


def _remove_pipe_file(pipe: str) -> None:
    """Remove the socket file of a killed LibreOffice's pipe, which only a clean exit removes.

    LibreOffice makes it as ``/tmp/OSL_PIPE_<uid>_<name>``; every LibreOffice killed (after a
    timeout, at a recycle, at close) would otherwise leave one behind.
    """
    with contextlib.suppress(OSError):
        Path(f"/tmp/OSL_PIPE_{os.getuid()}_{pipe}").unlink(missing_ok=True)


@dataclass
class _State:
    """The shared folder's record of the running LibreOffice (read and written under the lock)."""

    pid: int = 0
    pipe: str = ""
    converted: int = 0


@dataclass
class _Bridge:
    """A connection of this process to one LibreOffice."""

    pipe: str
    desktop: Any


@dataclass
class _Here:
    """What a converter holds in one process (a forked child makes its own: see the class)."""

    folder: Path
    """The folder of the LibreOffice this process uses: shared, or this process's own."""
    private: bool
    """Whether ``folder`` is this process's own (removed at close)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    """One conversion at a time among this process's threads."""
    lock_file: int | None = None
    """The folder's lock, opened by this process (its own open file: flock is per open file)."""
    bridge: _Bridge | None = None
    started: list[tuple[subprocess.Popen[bytes], str]] = field(default_factory=list)
    """LibreOffice processes this process started (reaped, and stopped at close)."""
    timed_out: threading.Event = field(default_factory=threading.Event)
    starts: int = 0


class LibreOfficeConverter(Closing):
    """Converts DOCX to PDF/A-3b in a warm LibreOffice; safe to share between threads.

    Starts LibreOffice on first use. With ``converter.shared_folder`` set (or ``shared_folder``
    given), every converter using that folder, in any process of the machine, shares one
    LibreOffice; otherwise the converter has a private one.

    **Forked processes.** The connection to LibreOffice, the lock, the started processes and a
    private converter's folder are per process, made on first use there. A process forked from
    one that converted letters (a web server's worker) never touches its parent's: with a
    private converter it starts a LibreOffice of its own on its first DOCX letter, in a folder
    of its own, and stops it when it closes the converter or ends; with a shared folder it uses
    the folder's LibreOffice like any other process. The parent's LibreOffice stays the
    parent's: a child neither uses, stops nor removes it.
    """

    def __init__(
        self, settings: ConverterSettings | None = None, *, shared_folder: Path | None = None
    ):
        """Prepare (not yet start) a converter with these settings."""
        self._settings = settings or ConverterSettings()
        folder = shared_folder or self._settings.shared_folder
        self._shared = Path(folder) if folder is not None else None
        self._process: PerProcess[_Here] = PerProcess(self._make_here)

    def _make_here(self) -> _Here:
        if self._shared is not None:
            return _Here(folder=self._shared, private=False)
        # in the process's own folder: removed with it even if this converter is never closed,
        # and by the next docgen process if this one is killed
        folder = tempfile.mkdtemp(prefix="lo-", dir=process_temp_dir())
        return _Here(folder=Path(folder), private=True)

    @property
    def _here(self) -> _Here:
        return self._process.get()

    @property
    def starts(self) -> int:
        """How many times this converter started LibreOffice in this process (1 while warm)."""
        here = self._process.peek()
        return here.starts if here is not None else 0

    @property
    def pid(self) -> int | None:
        """Process id of the LibreOffice this process would use, if one runs."""
        here = self._process.peek()
        if here is None and self._shared is None:
            return None  # this process has not started its own yet
        state = self._read_state(here.folder if here is not None else self._shared)
        return state.pid if _running(state.pid, state.pipe) else None

    def docx_to_pdf(self, docx: bytes) -> bytes:
        """Convert a DOCX document to PDF/A-3b; start a fresh LibreOffice once if it died."""
        here = self._here
        with self._exclusive(here):
            for attempt in (1, 2):
                state = self._ready(here)
                try:
                    pdf = self._convert(here, state, docx)
                except _LibreOfficeGone as gone:
                    here.bridge = None
                    _kill(state.pid, state.pipe, here.folder)
                    if here.timed_out.is_set():
                        raise ConverterError(
                            "LibreOffice did not finish converting the letter within "
                            f"{self._settings.timeout_seconds:g} s; it was stopped and will be "
                            "restarted"
                        ) from None
                    if attempt == 2:
                        raise ConverterError(f"The LibreOffice converter failed: {gone}") from None
                    log.warning("LibreOffice stopped answering (%s); restarting it", gone)
                    continue
                state.converted += 1
                self._write_state(here.folder, state)
                return pdf
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the LibreOffice this process started, and remove this process's private folder.

        A forked child's close leaves its parent's LibreOffice and folder alone.
        """
        here = self._process.peek()
        if here is None:
            return
        with here.lock:
            here.bridge = None  # the bridge closes when its last proxy is gone
            for process, pipe in here.started:
                sockets = []
                if process.poll() is None:  # not reaped yet, so the process id is still its own
                    sockets = _socket_files(process.pid)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
                _remove_leftovers(pipe, here.folder, sockets)
            here.started.clear()
            if here.lock_file is not None:
                os.close(here.lock_file)
                here.lock_file = None
            if here.private:
                shutil.rmtree(here.folder, ignore_errors=True)
            self._process.discard()  # used again, it starts afresh

    # ------------------------------------------------------------------ the shared folder

    @contextlib.contextmanager
    def _exclusive(self, here: _Here) -> Iterator[None]:
        """Exclusive use: of this converter among threads, of the folder among processes."""
        with here.lock:
            if here.lock_file is None:
                here.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                here.lock_file = os.open(here.folder / "lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(here.lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(here.lock_file, fcntl.LOCK_UN)

    @staticmethod
    def _read_state(folder: Path | None) -> _State:
        if folder is None:
            return _State()
        try:
            return _State(**json.loads((folder / "state.json").read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return _State()

    @staticmethod
    def _write_state(folder: Path, state: _State) -> None:
        path = folder / "state.json"
        partial = path.with_name(f".state.{os.getpid()}.json")
        partial.write_text(json.dumps(state.__dict__), "utf-8")
        partial.replace(path)

    # ------------------------------------------------------------------ LibreOffice's life

    def _ready(self, here: _Here) -> _State:
        """The state of a LibreOffice that answers: the one running, or a fresh one."""
        self._reap(here)
        state = self._read_state(here.folder)
        recycle = self._settings.recycle_after
        if state.pid and recycle and state.converted >= recycle:
            log.info("recycling LibreOffice after %d letters", state.converted)
            here.bridge = None
            _kill(state.pid, state.pipe, here.folder)
            state = _State()
        if _running(state.pid, state.pipe):
            if here.bridge is not None and here.bridge.pipe == state.pipe:
                return state
            with contextlib.suppress(_LibreOfficeGone):
                here.bridge = _connect(state.pipe, deadline=time.monotonic() + 5)
                return state
            _kill(state.pid, state.pipe, here.folder)
        state = self._start(here)
        self._write_state(here.folder, state)
        return state

    def _start(self, here: _Here) -> _State:
        settings = self._settings
        binary = _soffice_binary(settings.soffice)
        here.bridge = None
        # what LibreOffices that died (or were killed with docgen) left; none of this folder's
        # runs now: the one in the state was killed or found dead before this start
        _sweep_dead_temp_folders(here.folder)
        _sweep_dead_sockets()
        pipe = f"docgen-{secrets.token_hex(16)}"
        tmp = _temp_folder(here.folder, pipe)
        tmp.mkdir(mode=0o700, parents=True, exist_ok=True)
        settings_file = here.folder / "profile" / "user" / "registrymodifications.xcu"
        if not settings_file.exists():  # a new profile: LibreOffice merges these settings in
            settings_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            settings_file.write_text(_PROFILE_SETTINGS, "utf-8")
        profile = (here.folder / "profile").as_uri()
        command = [
            binary, f"-env:UserInstallation={profile}",
            "--headless", "--invisible", "--nologo", "--nodefault", "--norestore",
            "--nolockcheck", f"--accept=pipe,name={pipe};urp;StarOffice.ComponentContext",
        ]  # fmt: skip
        log.info("starting LibreOffice (pipe %s)", pipe)
        deadline = time.monotonic() + settings.startup_timeout_seconds
        for _ in range(2):  # a new profile makes LibreOffice set it up, exit, and ask to be rerun
            launched = _launcher.get().submit(_launch, command, _environment(settings, tmp))
            process = launched.result()
            here.started.append((process, pipe))
            try:
                here.bridge = _connect(pipe, deadline=deadline, process=process)
            except _LibreOfficeGone:
                if process.poll() == _RESTART_REQUESTED:
                    # ended cleanly; forgotten now, or reaping it would remove the pipe's socket
                    # file, which the second start (same pipe name) is about to create
                    here.started.remove((process, pipe))
                    continue
                _kill(process.pid, pipe, here.folder)
                raise ConverterError(
                    "LibreOffice did not start within "
                    f"{settings.startup_timeout_seconds:g} s (is libreoffice-writer installed?)"
                ) from None
            here.starts += 1
            return _State(pid=process.pid, pipe=pipe)
        raise ConverterError("LibreOffice kept asking to be restarted; its profile is unusable")

    @staticmethod
    def _reap(here: _Here) -> None:
        """Forget started processes that have ended (and collect their exit status)."""
        running = []
        for process, pipe in here.started:
            if process.poll() is None:
                running.append((process, pipe))
            else:
                _remove_leftovers(pipe, here.folder, [])  # it may have crashed
        here.started = running

    # ------------------------------------------------------------------ one conversion

    def _convert(self, here: _Here, state: _State, docx: bytes) -> bytes:
        uno = _uno()
        assert here.bridge is not None
        # a name no other process (nor one from before a reboot) can be using
        source = here.folder / f"letter-{secrets.token_hex(8)}.docx"
        target = source.with_suffix(".pdf")
        failure = uno.getClass("com.sun.star.uno.Exception")
        here.timed_out.clear()
        watchdog = threading.Timer(self._settings.timeout_seconds, self._stop_hung, (here, state))
        try:
            fd = os.open(source, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as sink:
                sink.write(docx)
            watchdog.start()
            with _uno_errors(here, state, "convert"):
                document = here.bridge.desktop.loadComponentFromURL(
                    source.as_uri(),
                    "_blank",
                    0,
                    _properties(
                        uno,
                        Hidden=True,  # no frame, no view: faster, and nothing on any display
                        ReadOnly=True,
                        FilterName=_DOCX_IMPORT_FILTER,
                        MacroExecutionMode=_NEVER_EXECUTE,
                        UpdateDocMode=_NO_UPDATE,
                        Referer=_UNTRUSTED_REFERER,
                    ),
                )
            if document is None:
                raise ConverterError("LibreOffice could not convert the letter: it is not DOCX")
            try:
                with _uno_errors(here, state, "export"):
                    filter_data = uno.Any(
                        "[]com.sun.star.beans.PropertyValue", _properties(uno, **PDFA_FILTER_DATA)
                    )
                    export = _properties(
                        uno, FilterName="writer_pdf_Export", Overwrite=True, FilterData=filter_data
                    )
                    uno.invoke(document, "storeToURL", (target.as_uri(), export))
            finally:
                with contextlib.suppress(failure):
                    document.close(True)
            return target.read_bytes()
        finally:
            watchdog.cancel()
            source.unlink(missing_ok=True)
            target.unlink(missing_ok=True)

    @staticmethod
    def _stop_hung(here: _Here, state: _State) -> None:
        """The watchdog: a conversion took too long; kill LibreOffice so that the call returns."""
        here.timed_out.set()
        log.warning("LibreOffice exceeded the conversion timeout; stopping it")
        _kill(state.pid, state.pipe, here.folder)


def _connect(
    pipe: str, *, deadline: float, process: subprocess.Popen[bytes] | None = None
) -> _Bridge:
    """Connect to the LibreOffice listening on ``pipe``, waiting for it until ``deadline``."""
    uno = _uno()
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext(
        "com.sun.star.bridge.UnoUrlResolver", local
    )
    failure = uno.getClass("com.sun.star.uno.Exception")
    while True:
        try:
            remote = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
            desktop = remote.ServiceManager.createInstanceWithContext(
                "com.sun.star.frame.Desktop", remote
            )
        except failure as error:
            if (process is not None and process.poll() is not None) or (
                time.monotonic() > deadline
            ):
                raise _LibreOfficeGone(str(error)) from None
            time.sleep(0.05)
            continue
        return _Bridge(pipe, desktop)


@contextlib.contextmanager
def _uno_errors(here: _Here, state: _State, doing: str) -> Iterator[None]:
    """UNO errors as :class:`ConverterError`, or :class:`_LibreOfficeGone` if it died."""
    failure = _uno().getClass("com.sun.star.uno.Exception")
    try:
        yield
    except failure as error:
        _raise_if_gone(here, state, error)
        raise ConverterError(
            f"LibreOffice could not {doing} the letter: {error.Message or error}"
        ) from None


def _raise_if_gone(here: _Here, state: _State, error: Exception) -> None:
    """After a UNO error: raise :class:`_LibreOfficeGone` if LibreOffice died or hung up."""
    if here.timed_out.is_set() or not _running(state.pid, state.pipe):
        raise _LibreOfficeGone(str(error))
    disposed = _uno().getClass("com.sun.star.lang.DisposedException")
    if isinstance(error, disposed):
        raise _LibreOfficeGone(str(error))


class _LibreOfficeGone(Exception):
    """LibreOffice died, hung up or cannot be reached (internal: the converter restarts it)."""


def _properties(uno: ModuleType, **values: Any) -> tuple[Any, ...]:
    """UNO ``PropertyValue`` structs from keyword arguments."""
    properties = []
    for name, value in values.items():
        prop = uno.createUnoStruct("com.sun.star.beans.PropertyValue")
        prop.Name = name
        prop.Value = value
        properties.append(prop)
    return tuple(properties)
