"""Reading a file to verify, without trusting it to be a file of sane size.

A verifier is handed paths by people and by scripts: a FIFO would block it for good, a device
such as ``/dev/zero`` would fill memory, and a huge file would cost minutes before anything is
known. :func:`read_letter` opens the path without blocking, refuses anything that is not a
regular file and anything over the size limit *before* reading it, and reads at most the limit.

Example::

    data = read_letter(Path("letter.pdf"), max_bytes=50 * 1024 * 1024)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from docgen.reports import VerificationReport

__all__ = ["FileRefused", "display_name", "read_letter", "verify_path"]


class FileRefused(Exception):
    """The path is not something verification reads; the message says why, in words."""


def display_name(path: Path | str) -> str:
    """The path as text that always prints and serialises (undecodable bytes escaped)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_letter(path: Path, *, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``path``; :class:`FileRefused` for anything else."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise FileRefused(f"cannot read: {error.strerror}") from None
    try:
        facts = os.fstat(descriptor)
        if not stat.S_ISREG(facts.st_mode):
            raise FileRefused("not a regular file (a folder, device or pipe is never a letter)")
        if facts.st_size > max_bytes:
            raise FileRefused(
                f"larger than the limit of {_size(max_bytes)} ({_size(facts.st_size)}); "
                "no issued letter is near that size"
            )
        with os.fdopen(descriptor, "rb", buffering=0, closefd=False) as handle:
            data = handle.read(max_bytes + 1)
    except OSError as error:
        raise FileRefused(f"cannot read: {error.strerror}") from None
    finally:
        os.close(descriptor)
    if len(data) > max_bytes:  # it grew while being read
        raise FileRefused(f"larger than the limit of {_size(max_bytes)}")
    return data


def verify_path(
    path: Path, max_bytes: int, verify: Callable[..., VerificationReport]
) -> VerificationReport:
    """``verify`` the file's bytes under its printable name; a refused file is unchecked."""
    name = display_name(path)
    try:
        data = read_letter(path, max_bytes=max_bytes)
    except FileRefused as error:
        return VerificationReport.unchecked(name, "file", str(error))
    return verify(data, name=name)


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count} bytes"
