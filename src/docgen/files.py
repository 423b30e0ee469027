"""Files: letters written so that nothing is half-written or replaced, and temporary files.

**Letters.** A letter is written under a hidden temporary name beside its final name, flushed
to disk, then moved to its final name (:func:`write_pending`, :func:`commit_pending`). The move
never replaces a file: a final name that already holds a file (another letter, from a register
that was lost, say) is refused with :class:`OutputError`. A full or read-only folder is an
:class:`OutputError` too, and leaves no temporary file behind. :func:`write_atomic` writes
other files (drafts, refreshed letters) the same way, replacing what was there.

**Temporary files.** Each process keeps its temporary files (WeasyPrint's fonts, a private
LibreOffice's profile and temporary files) in one folder of its own under ``$TMPDIR``,
``docgen-<pid>-<start>-<random>`` (:func:`process_temp_dir`). The folder is removed when the
process ends. A process killed before it could do so leaves it behind; the next docgen process
to make its own folder removes every such folder whose process is gone: the process id and its
kernel start time both name the owner, so a reused process id is never mistaken for it.

A batch's shared LibreOffice folder (``docgen-lo-*``) names no owner. One left by a killed run
is removed once it is provably abandoned: nothing in it changed for :data:`SHARED_FOLDER_LEASE`,
and no process has a file in it open, works in it, or names it on its command line (as the
LibreOffice using it does). Removing one that a live batch has not used yet costs nothing: its
converter makes it again when it needs it.

Example::

    write_atomic(Path("out/letter.pdf"), pdf_bytes)
    fonts = process_temp_dir() / "fonts"
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import multiprocessing.util
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path

from docgen.errors import OutputError

__all__ = [
    "SHARED_FOLDER_LEASE",
    "commit_pending",
    "pending_path",
    "process_start",
    "process_temp_dir",
    "write_atomic",
    "write_pending",
]

log = logging.getLogger(__name__)


def pending_path(path: Path, tag: str) -> Path:
    """Where :func:`write_pending` puts the file for ``path`` before it is committed."""
    return path.with_name(f".{path.name}.{tag}.part")


def _problem(error: OSError) -> str:
    """An operating-system error in words an operator acts on."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full"
    if error.errno == errno.EROFS:
        return "the folder is on a read-only file system"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return error.strerror or str(error)


def write_pending(path: Path, data: bytes, tag: str) -> Path:
    """Write ``data`` beside ``path`` under a hidden temporary name, flushed to disk.

    The name is predictable (:func:`pending_path`), so a run that died between writing and
    committing can find the file again. Nothing ever appears under ``path`` itself. Raises
    :class:`OutputError` when the folder cannot be made or written (full, read-only); no
    temporary file is left then.
    """
    pending = pending_path(path, tag)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    except OSError as error:
        raise OutputError(f"Cannot write {path}: {_problem(error)} ({path.parent})") from None
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(pending)
        if isinstance(error, OSError):
            raise OutputError(f"Cannot write {path}: {_problem(error)}") from None
        raise
    return pending


def _taken(path: Path) -> OutputError:
    return OutputError(
        f"{path} already holds another file; docgen never replaces a letter. Move that file "
        "away (it may be a letter of another register) and run again"
    )


def commit_pending(pending: Path, path: Path) -> None:
    """Move a pending letter to its final name, atomically, durably, and never over a file.

    A hard link makes the final name appear atomically and fails if the name exists, where a
    rename would silently replace it; the pending name is removed after. Raises
    :class:`OutputError` when ``path`` already holds a file, or the move fails (the pending
    file is then kept, so that running again can complete the move).
    """
    try:
        os.link(pending, path)
    except FileExistsError:
        raise _taken(path) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
            raise OutputError(
                f"Cannot move the letter into place at {path}: {_problem(error)}"
            ) from None
        # a file system without hard links: checked, then renamed (not atomic against a file
        # made in between, which only another program writing into the letters folder could do)
        if os.path.lexists(path):
            raise _taken(path) from None
        try:
            os.rename(pending, path)
        except OSError as failure:
            raise OutputError(
                f"Cannot move the letter into place at {path}: {_problem(failure)}"
            ) from None
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pending)
    _sync_folder(path)


def _sync_folder(path: Path) -> None:
    """Make the creation or rename of ``path`` durable."""
    try:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as error:
        raise OutputError(f"Cannot make {path} durable: {_problem(error)}") from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either no file or the whole file.

    An existing file is replaced (a draft written again, a letter refreshed with validation
    data). Raises :class:`OutputError` when it cannot be written; no temporary file is left.
    """
    pending = write_pending(path, data, uuid.uuid4().hex)
    try:
        os.replace(pending, path)
    except OSError as error:
        with contextlib.suppress(OSError):
            pending.unlink()
        raise OutputError(f"Cannot write {path}: {_problem(error)}") from None
    _sync_folder(path)


# ---------------------------------------------------------------------- temporary files


def process_start(pid: int) -> str | None:
    """The kernel's start time of a process (tells a live process from a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


_PROCESS_DIR = re.compile(r"docgen-(\d+)-(\d+)-[A-Za-z0-9_]+")
_process_dir: tuple[int, Path] | None = None
_process_dir_lock = threading.Lock()


def _new_process_dir_lock() -> None:
    # a forked child must not inherit the lock held by another of the parent's threads at the
    # fork: it would stay locked in the child forever
    global _process_dir_lock
    _process_dir_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_process_dir_lock)


def process_temp_dir() -> Path:
    """The current process's own temporary folder under ``$TMPDIR``, made on first use.

    It is removed when the process ends (normally, or as a multiprocessing worker). Making it
    also removes the folders that killed docgen processes left behind (see the module's text).
    """
    global _process_dir
    with _process_dir_lock:
        pid = os.getpid()
        if _process_dir is not None and _process_dir[0] == pid:
            return _process_dir[1]
        # a forked child gets its own folder: the parent's is the parent's to remove
        root = Path(tempfile.gettempdir())
        _sweep_dead_process_dirs(root)
        _sweep_abandoned_shared_folders(root)
        folder = Path(tempfile.mkdtemp(prefix=f"docgen-{pid}-{process_start(pid) or 0}-", dir=root))
        _process_dir = (pid, folder)
        atexit.register(_remove_process_dir, pid, folder)
        # a worker of a fork-context pool ends with os._exit, which runs no atexit handlers;
        # priority 0: after the workers' own Finalize callbacks (their converter, say)
        multiprocessing.util.Finalize(None, _remove_process_dir, (pid, folder), exitpriority=0)
        return folder


def _remove_process_dir(pid: int, folder: Path) -> None:
    """Remove a process's temporary folder, only in the process it belongs to."""
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


def _sweep_dead_process_dirs(root: Path) -> None:
    """Remove the folders of docgen processes that are gone (killed before their cleanup)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    uid = os.getuid()
    if process_start(os.getpid()) is None:
        return  # no /proc: nothing can be proved dead
    for entry in entries:
        match = _PROCESS_DIR.fullmatch(entry.name)
        if match is None:
            continue
        pid, started = match.groups()
        with contextlib.suppress(OSError):
            if entry.stat(follow_symlinks=False).st_uid != uid or not entry.is_dir(
                follow_symlinks=False
            ):
                continue  # another user's, or not ours to judge
            if process_start(int(pid)) == started:
                continue  # its process is alive
            log.info("removing %s, left by a docgen process that ended", entry.path)
            shutil.rmtree(entry.path, ignore_errors=True)


SHARED_FOLDER_LEASE = 600.0
"""Seconds a ``docgen-lo-*`` folder must have been left unchanged before it may be removed."""


def _newest_change(folder: Path) -> float:
    """The latest modification time of ``folder`` and everything in it."""
    newest = folder.stat().st_mtime
    for parent, directories, files in os.walk(folder):
        for name in (*directories, *files):
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(parent, name)).st_mtime)
    return newest


def _in_use(folders: list[Path]) -> set[Path]:
    """Those of ``folders`` that a running process has open, works in, or names to run."""
    used: set[Path] = set()
    names = {folder: str(folder) for folder in folders}

    def touch(text: str) -> None:
        # a mention anywhere counts: wrongly keeping a folder costs nothing, removing one does
        used.update(folder for folder, name in names.items() if name in text)

    for process in os.scandir("/proc"):
        if not process.name.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"{process.path}/cmdline", "rb") as cmdline:
            touch(cmdline.read().replace(b"\0", b" ").decode(errors="replace"))
        with contextlib.suppress(OSError):
            touch(os.readlink(f"{process.path}/cwd"))
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"{process.path}/fd"):
                with contextlib.suppress(OSError):
                    touch(os.readlink(fd.path))
    return used


def _sweep_abandoned_shared_folders(root: Path) -> None:
    """Remove ``docgen-lo-*`` folders that killed batch runs left (see the module's text)."""
    now = time.time()
    uid = os.getuid()
    candidates = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if not entry.name.startswith("docgen-lo-"):
                continue
            with contextlib.suppress(OSError):
                if not entry.is_dir(follow_symlinks=False):
                    continue
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if now - _newest_change(Path(entry.path)) >= SHARED_FOLDER_LEASE:
                    candidates.append(Path(entry.path))
    if not candidates:
        return
    used = _in_use(candidates)
    for folder in candidates:
        if folder not in used:
            log.info("removing %s, a LibreOffice folder no process uses any more", folder)
            shutil.rmtree(folder, ignore_errors=True)
