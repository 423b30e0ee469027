"""Writing files so that a crash never leaves a half-written file under its final name.

Example::

    write_atomic(Path("out/letter.pdf"), pdf_bytes)
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

__all__ = ["commit_pending", "pending_path", "write_atomic", "write_pending"]


def pending_path(path: Path, tag: str) -> Path:
    """Where :func:`write_pending` puts the file for ``path`` before it is committed."""
    return path.with_name(f".{path.name}.{tag}.part")


def write_pending(path: Path, data: bytes, tag: str) -> Path:
    """Write ``data`` beside ``path`` under a hidden temporary name, flushed to disk.

    The name is predictable (:func:`pending_path`), so a run that died between writing and
    committing can find the file again. Nothing ever appears under ``path`` itself.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    pending = pending_path(path, tag)
    descriptor = os.open(pending, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pending)
        raise
    return pending


def commit_pending(pending: Path, path: Path) -> None:
    """Rename a pending file to its final name, atomically, and make the rename durable."""
    os.replace(pending, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either no file or the whole file."""
    commit_pending(write_pending(path, data, uuid.uuid4().hex), path)
