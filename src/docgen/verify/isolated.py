"""Verification in a separate process, with a time and memory budget for each file.

A file from an untrusted hand may be built to make a PDF parser loop for minutes or allocate
gigabytes. :class:`IsolatedVerifier` hands each file to a worker process that holds a warm
:class:`~docgen.verify.Verifier` and may use at most ``memory_mb`` more memory than it started
with. When a verification takes longer than ``seconds``, the worker is killed, the file is
reported as "could not be checked", and the next file gets a fresh worker. The caller's process
never parses the file, so it keeps serving whatever else it serves.

The worker ends when its parent ends, even one killed with SIGKILL: it watches its parent, and
a CPU-time limit set before each file stops it even while it is busy with a hostile one.

The worker belongs to the process that started it: a process forked from that one (a web
server's worker) starts a worker of its own on its first file, and never uses or stops its
parent's.

Example::

    factory = functools.partial(Verifier.from_settings, settings)
    with IsolatedVerifier(factory, seconds=30, memory_mb=1024) as verifier:
        report = verifier.verify_file(Path("upload.pdf"))
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import resource
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from docgen.errors import ServiceUnavailable
from docgen.lazy import PerProcess
from docgen.reports import VerificationReport
from docgen.resources import Closing
from docgen.verify.intake import verify_path

if TYPE_CHECKING:
    from docgen.verify.verifier import Verifier

__all__ = ["IsolatedVerifier"]

_PARENT_POLL_SECONDS = 0.2
_READY = b"ready"
_STARTUP_SECONDS = 120.0  # importing pyHanko and reading the trust roots, on a busy machine


class IsolatedVerifier(Closing):
    """Verifies files one at a time in a worker process; safe to share between threads."""

    def __init__(
        self,
        factory: Callable[[], Verifier],
        *,
        seconds: float,
        memory_mb: int,
        max_file_bytes: int = 50 * 1024 * 1024,
    ):
        """Build verifiers with ``factory`` (picklable) in the worker; bound each file.

        ``seconds`` is the wall-clock budget of one file, ``memory_mb`` the memory the worker
        may take beyond what it holds when ready. Files over ``max_file_bytes`` are refused
        before they are read.
        """
        self._factory = factory
        self._seconds = seconds
        self._memory = memory_mb * 1024 * 1024
        self._max_file_bytes = max_file_bytes
        self._here: PerProcess[_Here] = PerProcess(_Here)

    def close(self) -> None:
        """Stop this process's worker (it is started again if the verifier is used after this)."""
        here = self._here.peek()
        if here is not None:
            with here.lock:
                _stop(here)

    def start(self) -> None:
        """Start this process's worker now, not on the first file; raises if it cannot start.

        A worker already running returns at once, even while it verifies a file (a readiness
        probe must not wait behind a verification's budget).
        """
        here = self._here.get()
        running = here.worker
        if running is not None and running[0].is_alive():
            return
        with here.lock:
            self._ready(here)

    def verify_file(self, path: Path) -> VerificationReport:
        """Verify one file within the budget; refused and unreadable files are unchecked."""
        return verify_path(path, self._max_file_bytes, self.verify)

    def verify(self, data: bytes, *, name: str = "<bytes>") -> VerificationReport:
        """Verify a letter given as bytes, within the budget."""
        here = self._here.get()
        with here.lock:
            process, connection = self._ready(here)
            started = time.monotonic()
            try:
                connection.send((data, name))
                if connection.poll(self._seconds):
                    answer = connection.recv_bytes()
                    return VerificationReport.model_validate_json(answer)
            except (EOFError, OSError):
                pass  # the worker died: memory exhausted, or killed
            elapsed = time.monotonic() - started
            alive = process.is_alive()
            _stop(here)
        if alive or elapsed >= self._seconds:
            return VerificationReport.unchecked(
                name,
                "budget",
                f"verification took longer than {self._seconds:g} s and was stopped; "
                "the file is built to exhaust a verifier, or the machine is overloaded",
            )
        return VerificationReport.unchecked(
            name,
            "budget",
            f"verification stopped: it needed more than {self._memory // 1024 // 1024} MB of "
            "memory, or its process crashed",
        )

    def _ready(self, here: _Here) -> tuple[BaseProcess, Connection]:
        if here.worker is not None and here.worker[0].is_alive():
            return here.worker
        _stop(here)
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self._factory, self._memory, self._seconds, os.getpid(), _log_levels()),
            name="docgen-verify-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        here.worker = (process, ours)
        try:
            if ours.poll(_STARTUP_SECONDS) and ours.recv_bytes() == _READY:
                return here.worker
        except (EOFError, OSError):
            pass
        _stop(here)
        raise ServiceUnavailable("The verification worker process did not start")


class _Here:
    """One process's worker, and the lock that lets one file at a time through to it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.worker: tuple[BaseProcess, Connection] | None = None


def _stop(here: _Here) -> None:
    if here.worker is None:
        return
    process, connection = here.worker
    here.worker = None
    connection.close()
    process.kill()
    process.join(timeout=10)
    process.close()


def _serve(
    connection: Connection,
    factory: Callable[[], Verifier],
    memory: int,
    seconds: float,
    parent: int,
    levels: dict[str, int],
) -> None:
    """The worker: verify each file sent, until the connection closes or the parent dies."""
    threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    _log_like_parent(levels)
    verifier = factory()
    _limit(resource.RLIMIT_AS, _address_space() + memory)
    connection.send_bytes(_READY)
    while True:
        try:
            data, name = connection.recv()
        except (EOFError, OSError):
            return
        # a CPU limit a little over the wall-clock budget: even an orphan stops
        used = resource.getrusage(resource.RUSAGE_SELF)
        _limit(resource.RLIMIT_CPU, int(used.ru_utime + used.ru_stime + seconds) + 2)
        try:
            report = verifier.verify(data, name=name)
        except MemoryError:
            report = VerificationReport.unchecked(
                name, "budget", "verification needed more memory than allowed"
            )
        connection.send_bytes(report.model_dump_json().encode())


def _log_levels() -> dict[str, int]:
    """The levels of this process's loggers, for the worker to log as its parent does."""
    levels = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger) and logger.level
    }
    # the root logger's level, or nothing at all when the parent never set logging up
    levels[""] = logging.root.level if logging.root.handlers else logging.CRITICAL + 1
    return levels


def _log_like_parent(levels: dict[str, int]) -> None:
    logging.basicConfig(
        level=levels.pop(""), format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _limit(which: int, value: int) -> None:
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, hard))


def _address_space() -> int:
    """The process's current virtual memory size, in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _exit_when_orphaned(parent: int) -> None:
    """End the worker as soon as the process that started it is gone (even after SIGKILL)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)
