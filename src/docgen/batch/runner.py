"""Batch runs: many requests issued in parallel worker processes, safely resumable.

Each worker process builds one :class:`~docgen.pipeline.Issuer` when it starts (templates,
stylesheets, fonts, signing keys, register connection) and keeps it for the whole run; numbers
still come from the one register. The workers share one warm LibreOffice for their DOCX letters
(``share_libreoffice``, the default: one LibreOffice is 200–300 MB) or start one each (faster
on DOCX-only runs, when memory allows). The main process streams the input, keeps only a
bounded window of records in flight (memory stays flat), writes the manifest — one JSON line
per input record, in the input's order, each as soon as the records before it are done — and
never renders or signs, so it stays small.

**Numbers** follow the order in which workers reach the register, or the input's order with
``ordered`` (``docgen batch --ordered``, see :mod:`docgen.batch.order`).

Every record ends as ``issued``, ``already_issued`` (skipped: issued by an earlier run),
``revoked`` (issued earlier, revoked since), ``invalid`` (validation failed) or ``failed``
(with ``retryable`` saying whether running again may succeed). A failure never stops the batch.
A worker that dies (killed, out of memory) is replaced by a fresh pool: the records that pool had
in hand are tried again, three times at most (a record that kills its worker ends ``failed``).

**Stopping.** Run in the main thread, :meth:`BatchRunner.run` treats SIGINT (Ctrl-C) and
SIGTERM alike: no new letter is started, the letters in progress are finished and written to
the manifest, the workers and their LibreOffice end, and :class:`BatchInterrupted` is raised. A
second signal stops at once, without waiting for the letters in progress. Workers end by
themselves, with their LibreOffice, the moment the main process dies, even by SIGKILL.

**The manifest** is rewritten by every run, once its workers have started: a run that fails
before that leaves the previous one as it was. If it can no longer be written (a full disk),
the run stops as on a signal and raises :class:`ManifestError`, naming the letters finished
since that are not in it.

**Crash safety** comes from the register and the Issuer: a record issued before a crash is
skipped with its number when the same command runs again, a letter recorded but not yet renamed
is completed, and a reservation held by a process that died on this machine is taken over at
once. So after the rerun the manifest is complete. Two runs over overlapping input never issue
a request twice: the second waits for the first to finish a request it is working on, then
reports it ``already_issued``.

Example::

    runner = BatchRunner(settings, workers=2)
    summary = runner.run(read_records(Path("today.jsonl")), manifest=Path("out/manifest.jsonl"))
"""

from __future__ import annotations

import contextlib
import gc
import json
import multiprocessing
import multiprocessing.util
import os
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from docgen.batch.inputs import Record
from docgen.batch.order import NumberingTurn
from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.errors import DocgenError, LetterInProgress, RequestInvalid, is_retryable
from docgen.formatting import today_in
from docgen.lazy import PerProcess
from docgen.lifetime import die_with_parent
from docgen.models import LetterRequest
from docgen.sign.passphrase import PassphrasePrompt

__all__ = [
    "BatchInterrupted",
    "BatchRunner",
    "BatchSummary",
    "ManifestError",
    "ManifestRow",
    "Progress",
]

_WAIT_FOR_OTHER_RUN = 300.0  # seconds a worker waits for another run to finish a request
_ATTEMPTS = 3  # tries of a record whose worker died: a record that kills its worker stops there
_PARENT_POLL_SECONDS = 0.2
_TURN_SECONDS = 120.0  # how long a record waits for the records before it to take their numbers


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """The outcome of one input record, as written to the manifest."""

    position: str
    """Where the record is in the input."""
    request_id: str | None
    """Its request id, when it could be read."""
    status: str
    """``issued``, ``already_issued``, ``revoked``, ``invalid``, ``failed``, or ``valid``."""
    letter_number: str | None = None
    """The letter number, when the letter exists."""
    path: str | None = None
    """The signed PDF, when the letter exists."""
    sha256: str | None = None
    """SHA-256 of the signed PDF."""
    error: str | None = None
    """Why the record is invalid or failed."""
    retryable: bool = False
    """Whether running the batch again may succeed for this record."""

    def to_json(self) -> str:
        """The manifest line."""
        return json.dumps(
            {name: getattr(self, name) for name in self.__slots__}, ensure_ascii=False
        )


@dataclass
class BatchSummary:
    """Counts by status, and timing, of a batch run."""

    counts: Counter[str] = field(default_factory=Counter)
    """How many records ended in each status."""
    seconds: float = 0.0
    """Wall time of the run."""
    unfinished: int = 0
    """Records read but not finished because the run was stopped (not in the manifest)."""

    @property
    def total(self) -> int:
        """Records processed."""
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        """Records that failed or were invalid."""
        return self.counts["failed"] + self.counts["invalid"]

    @property
    def ok(self) -> bool:
        """True when no record failed or was invalid."""
        return self.failed == 0


Progress = Callable[[BatchSummary], None]
"""Called after every record with the summary so far."""


class BatchInterrupted(KeyboardInterrupt):
    """The run was stopped by SIGINT or SIGTERM; what had finished is in the manifest.

    A :class:`KeyboardInterrupt`, so code that handles Ctrl-C handles it too.
    """

    def __init__(self, signum: int, summary: BatchSummary | None = None, *, at_once: bool = False):
        """Stopped by signal ``signum``; ``summary`` counts what was done."""
        super().__init__(signum)
        self.signum = signum
        """The signal that stopped the run."""
        self.summary = summary or BatchSummary()
        """What the run did before it stopped."""
        self.at_once = at_once
        """Stopped by a second signal without waiting for the letters in progress: those are
        in the register, or not, and the next run completes them."""


class ManifestError(DocgenError):
    """The manifest could not be written, so the run stopped; no letter was started after."""

    exit_code = 74  # EX_IOERR

    def __init__(self, message: str, unrecorded: Iterable[ManifestRow] = ()):
        """``unrecorded``: the records finished that the manifest could not take."""
        self.unrecorded = tuple(unrecorded)
        """Records finished (letters issued, among others) that are not in the manifest."""
        super().__init__(message)

    def __str__(self) -> str:
        message = str(self.args[0])
        letters = [row for row in self.unrecorded if row.letter_number]
        if letters:
            shown = ", ".join(f"{row.request_id} ({row.letter_number})" for row in letters[:20])
            more = f" and {len(letters) - 20} more" if len(letters) > 20 else ""
            message += f". Letters finished that are not in it: {shown}{more}"
        return message


def _given(secret: str | None) -> PassphrasePrompt | None:
    """A prompt that answers with a passphrase asked for earlier, if there is one."""
    return (lambda _: secret) if secret is not None else None


# ------------------------------------------------------------------ worker process side

_worker_setup: tuple[Settings, dict[str, str]] | None = None
_worker_parent: int | None = None
_worker_stop: Any = None  # the run's multiprocessing Event: set, no letter is started
_worker_turn: NumberingTurn | None = None  # numbering in input order (--ordered), or None


class _NotStarted(Exception):
    """The run is stopping: the worker did not start this record's letter."""


def _start_worker(
    settings: Settings,
    passphrases: dict[str, str],
    parent: int,
    stop: Any,
    turn: NumberingTurn | None,
) -> None:
    """Set a worker up: its life tied to the main process's, its settings remembered.

    The Issuer is built on the first task (see :func:`_issuer`).
    """
    global _worker_setup, _worker_parent, _worker_stop, _worker_turn
    _worker_setup = (settings, passphrases)
    _worker_parent, _worker_stop, _worker_turn = parent, stop, turn
    # a terminal's Ctrl-C reaches the whole process group: the main process alone decides how
    # the run stops (it lets the letters in progress finish), so the workers ignore it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Linux kills the worker when the thread that started it ends: the one running
    # BatchRunner.run, which outlives the workers unless the main process dies
    die_with_parent(signal.SIGKILL)
    _exit_if_orphaned()  # it may have died before that took effect
    # elsewhere, or should the thread rule change: a watcher that notices within a fraction of a
    # second (the worker's LibreOffice dies with it)
    threading.Thread(target=_watch_parent, name="docgen-watch-parent", daemon=True).start()


def _exit_if_orphaned() -> None:
    if os.getppid() != _worker_parent:
        os._exit(1)


def _watch_parent() -> None:
    while True:
        _exit_if_orphaned()
        time.sleep(_PARENT_POLL_SECONDS)


def _may_start() -> None:
    """Before a letter: end if the main process is gone; refuse if the run is stopping."""
    _exit_if_orphaned()
    if _worker_stop is not None and _worker_stop.is_set():
        raise _NotStarted


def _build_issuer() -> Any:
    """The worker's Issuer: keys opened (passphrases from the main process)."""
    from docgen.pipeline import Issuer
    from docgen.sign import open_backend

    assert _worker_setup is not None
    settings, passphrases = _worker_setup
    signers = {}
    for directorate, key in settings.signing.keys.items():
        signers[directorate] = open_backend(key, _given(passphrases.get(directorate)))
    issuer = Issuer(settings, signers=signers)
    # a pool worker ends through multiprocessing, which runs Finalize callbacks but no atexit
    # handlers: this is what stops the LibreOffice a worker started
    multiprocessing.util.Finalize(None, issuer.close, exitpriority=10)
    return issuer


# built on a worker's first task, once per process: a worker forked from another (a "fork"
# start method) builds its own rather than use the other's register connection and LibreOffice
_worker_issuer: PerProcess[Any] = PerProcess(_build_issuer)


def _issuer() -> Any:
    """The worker's Issuer, built once in each worker process."""
    return _worker_issuer.get()


# A letter leaves tens of thousands of short-lived reference cycles (WeasyPrint's boxes,
# pyHanko's objects), and by default the collector's passes also walk everything a worker keeps
# warm (fonts, stylesheets, templates, keys): about 43 ms of collection per HTML letter. Once a
# worker's first letter is made, that warm state is frozen out of the collector and young
# collections run less often: about 15 ms per letter, and memory stays as it was.
_YOUNG_COLLECTION_AFTER = 2000  # allocations (Python's default: 700)


def _settle_collector() -> bool:
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(_YOUNG_COLLECTION_AFTER, middle, old)
    return True


_collector_settled: PerProcess[bool] = PerProcess(_settle_collector)


def _open_keys_in_worker() -> None:
    """The run's first task: a wrong passphrase or unreadable key fails here, cleanly."""
    _issuer()


def _issue_in_worker(
    position: str, request_json: str, out_dir: str | None, ticket: int
) -> ManifestRow:
    turn = _worker_turn
    try:
        return _issue_one(position, request_json, out_dir, ticket)
    finally:
        if turn is not None:
            turn.passed(ticket)  # the number is taken (or none will be): the next one's turn


@contextlib.contextmanager
def _in_turn(ticket: int) -> Iterator[None]:
    """Around taking a number, when numbering in input order (otherwise nothing).

    Waits for the records before this one, then lets the next one go on while this one's letter
    is made.
    """
    turn = _worker_turn
    if turn is None:
        yield
        return
    turn.wait(ticket, _TURN_SECONDS)
    try:
        yield
    finally:
        turn.passed(ticket)


def _issue_one(position: str, request_json: str, out_dir: str | None, ticket: int) -> ManifestRow:
    from docgen.pipeline import Issuer

    _may_start()
    issuer: Issuer = _issuer()
    _may_start()  # building the Issuer, on a worker's first letter, takes seconds
    request = LetterRequest.model_validate_json(request_json)
    deadline = time.monotonic() + _WAIT_FOR_OTHER_RUN
    pause = 0.2
    while True:
        try:
            letter = issuer.issue(
                request,
                out_dir=Path(out_dir) if out_dir else None,
                source=position,
                taking_number=_in_turn(ticket),
            )
        except LetterInProgress:
            # another run holds this request: wait for it to finish, then report its letter
            if time.monotonic() > deadline:
                raise
            if _worker_stop is not None and _worker_stop.wait(pause):
                raise _NotStarted from None
            _may_start()
            pause = min(pause * 2, 5.0)
            continue
        _collector_settled.get()  # after the worker's first letter: its warm state is built
        return ManifestRow(
            position=position,
            request_id=request.request_id,
            status=letter.outcome.value,
            letter_number=letter.letter_number,
            path=str(letter.path),
            sha256=letter.sha256,
        )


# ------------------------------------------------------------------ main process side


class _Signals:
    """SIGINT and SIGTERM while a run is on, in the main thread.

    A signal is remembered, and raised as :class:`BatchInterrupted` only where the run waits
    (for input or for results), so that a result received is never lost between the worker and
    the manifest.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self._armed = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous = signal.getsignal(signum)
                if previous is signal.SIG_IGN:  # e.g. SIGINT of a job a script put in background
                    continue
                self._previous[signum] = previous
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if self._armed:
            raise BatchInterrupted(self.received[0])

    @contextlib.contextmanager
    def waiting(self, seen: int = 0) -> Iterator[None]:
        """A wait that a signal (beyond the first ``seen``) interrupts."""
        self._armed = True  # before the check: a signal in between is not missed
        try:
            if len(self.received) > seen:
                raise BatchInterrupted(self.received[0])
            yield
        finally:
            self._armed = False


class _Manifest:
    """The manifest file: whole lines only, the previous one kept until :meth:`begin`."""

    def __init__(self, path: Path):
        self.path = path
        self.broken = False
        self._size = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._created = not path.exists()
            # appending changes nothing yet: a run that fails to start leaves the old manifest
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        except OSError as error:
            raise ManifestError(
                f"The manifest {path} cannot be written: {error.strerror or error}"
            ) from None

    def begin(self) -> None:
        """Start the manifest afresh: the run has started."""
        self._guard(lambda: os.ftruncate(self._fd, 0))
        self._created = False

    def write(self, row: ManifestRow) -> None:
        """Add a row; raise :class:`ManifestError` (the row not written) if it cannot be."""
        line = memoryview((row.to_json() + "\n").encode())

        def append() -> None:
            written = 0
            while written < len(line):
                written += os.write(self._fd, line[written:])

        self._guard(append, row)
        self._size += len(line)

    def _guard(self, action: Callable[[], object], row: ManifestRow | None = None) -> None:
        try:
            action()
        except OSError as error:
            self.broken = True
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # no half line
            raise ManifestError(
                f"The manifest {self.path} could not be written: {error.strerror or error}. "
                "The run stopped and started no more letters; run the same command again once "
                "it can be written (letters issued are then reported already issued)",
                [row] if row else [],
            ) from None

    def close(self, *, started: bool) -> None:
        """Make the manifest durable; remove it if this run created it but never started."""
        try:
            if started and not self.broken:
                self._guard(lambda: os.fsync(self._fd))
        finally:
            os.close(self._fd)
            if self._created and not started:
                with contextlib.suppress(OSError):
                    self.path.unlink()


@dataclass
class _Task:
    """A record handed to the workers, and how many pools it has been handed to."""

    record: Record
    request_json: str
    ordinal: int  # the record's place in the input, from 0: its manifest row's place
    ticket: int  # its place among the records handed to the workers: its turn for a number
    attempts: int = 0


class _Run:
    """One call of :meth:`BatchRunner.run`: the pool, the records in flight, the manifest."""

    def __init__(
        self,
        runner: BatchRunner,
        settings: Settings,
        manifest: _Manifest,
        signals: _Signals,
        summary: BatchSummary,
        secrets: dict[str, str],
        progress: Progress | None,
        on_problem: Callable[[ManifestRow], None] | None,
    ):
        self.runner = runner
        self.manifest = manifest
        self.signals = signals
        self.summary = summary
        self.progress = progress
        self.on_problem = on_problem
        self.started = time.monotonic()
        self.out = str(runner.out_dir) if runner.out_dir else None
        context = multiprocessing.get_context("spawn")  # no inherited locks or connections
        self.stop = context.Event()
        self.turn = NumberingTurn(context, runner.window) if runner.ordered else None
        self._pool_args: dict[str, Any] = {
            "mp_context": context,
            "initializer": _start_worker,
            "initargs": (settings, secrets, os.getpid(), self.stop, self.turn),
        }
        self.pool = ProcessPoolExecutor(runner.workers, **self._pool_args)
        self.generation = 0  # which pool: a record that comes back broken says from which
        self.submitted = 0
        self.in_flight: dict[Future[ManifestRow], tuple[_Task, int]] = {}
        self.retry: list[_Task] = []  # back from a pool whose worker died, to hand on in order
        self.held: dict[int, ManifestRow | None] = {}  # rows waiting for an earlier one
        self.written = 0  # the rows in the manifest: the ordinal of the next one
        self.stopping = False
        self.at_once = False  # stopped by a second signal, letters in progress abandoned
        self.unrecorded: list[ManifestRow] = []

    # -------------------------------------------------------------- the pool

    def start_workers(self) -> None:
        """Have one worker open every key, so a wrong passphrase stops the run before it starts.

        (The main process itself never loads the cryptography.)
        """
        future = self.pool.submit(_open_keys_in_worker)
        with self.signals.waiting():
            wait([future])
        try:
            future.result()
        except BrokenProcessPool:
            raise DocgenError("The batch's worker process ended as it started") from None

    def new_pool(self) -> None:
        """Replace the pool: after its share of letters, or when one of its workers died."""
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.pool = ProcessPoolExecutor(self.runner.workers, **self._pool_args)
        self.generation += 1
        self.submitted = 0

    def submit(self, task: _Task) -> None:
        """Hand a record to the workers."""
        task.attempts += 1
        arguments = (task.record.position, task.request_json, self.out, task.ticket)
        try:
            future = self.pool.submit(_issue_in_worker, *arguments)
        except BrokenProcessPool:  # a worker died since the last result
            self.new_pool()
            future = self.pool.submit(_issue_in_worker, *arguments)
        self.submitted += 1
        self.in_flight[future] = (task, self.generation)

    def kill_workers(self) -> None:
        """End the workers at once (their letters in progress are left to the next run)."""
        # the pool's own table: Python 3.14 has kill_workers(), 3.11 has nothing public
        for process in list(getattr(self.pool, "_processes", {}).values()):
            with contextlib.suppress(OSError, ValueError):
                process.kill()

    # -------------------------------------------------------------- results

    def record(self, row: ManifestRow, ordinal: int) -> None:
        """Count a result and write it to the manifest, in input order."""
        if self.manifest.broken:
            self.unrecorded.append(row)
            return
        self.held[ordinal] = row
        self.write_in_order()
        self.summary.counts[row.status] += 1
        self.summary.seconds = time.monotonic() - self.started
        # while stopping, a failing report (stderr gone) must not keep results from the manifest
        with contextlib.suppress(Exception) if self.stopping else contextlib.nullcontext():
            if self.on_problem is not None and row.status in ("invalid", "failed"):
                self.on_problem(row)
            if self.progress:
                self.progress(self.summary)

    def skip(self, ordinal: int) -> None:
        """A record ends with no row (not started, or stopped): the rows after it go on."""
        self.held[ordinal] = None
        self.write_in_order()

    def write_in_order(self, *, everything: bool = False) -> None:
        """Write the rows held whose predecessors are all written.

        A row waits at most for the letters in flight before it. With ``everything`` (the run
        ends), every row held is written, in order, whatever is missing before it.
        """
        while self.held and (everything or self.written in self.held):
            ordinal = self.written if self.written in self.held else min(self.held)
            row = self.held.pop(ordinal)
            self.written = ordinal + 1
            if row is None:
                continue
            try:
                self.manifest.write(row)
            except ManifestError:
                self.unrecorded.extend(r for _, r in sorted(self.held.items()) if r is not None)
                self.held.clear()
                raise

    def collect(self, *, block: bool, seen: int = 0) -> None:
        """Record the results that are in; with ``block``, wait for one first."""
        if not self.in_flight:
            return
        if block:
            with self.signals.waiting(seen):
                done, _ = wait(self.in_flight, return_when=FIRST_COMPLETED)
        else:
            done = {future for future in self.in_flight if future.done()}
        for future in done:
            self.finish(future)
        # a dead pool's records, once all are back, go to the new one lowest first: a record
        # numbered in input order must never wait for one queued behind it
        if self.retry and all(g == self.generation for _, g in self.in_flight.values()):
            for task in sorted(self.retry, key=lambda task: task.ticket):
                self.submit(task)
            self.retry.clear()

    def finish(self, future: Future[ManifestRow]) -> None:
        """Record one result, or hand its record to a fresh pool if its worker died."""
        task, generation = self.in_flight.pop(future)
        record = task.record
        try:
            row = future.result()
        except (CancelledError, _NotStarted):
            self.summary.unfinished += 1
            self.ended(task)
            self.skip(task.ordinal)
            return
        except BrokenProcessPool:
            if generation == self.generation and not self.stopping:
                self.new_pool()  # the first record back from a dead pool replaces it
            if self.stopping:
                # its letter may or may not have been issued: the next run will tell
                self.summary.unfinished += 1
                self.ended(task)
                self.skip(task.ordinal)
                return
            if task.attempts < _ATTEMPTS:
                self.retry.append(task)
                return
            row = ManifestRow(
                record.position,
                record.request.request_id if record.request else record.request_id,
                "failed",
                error=f"the worker process issuing it ended unexpectedly, {task.attempts} times",
                retryable=True,
            )
        except BaseException as error:
            row = _failure(record, error)
        self.ended(task)
        self.record(row, task.ordinal)

    def ended(self, task: _Task) -> None:
        """No worker works on ``task`` any more: its turn for a number is over.

        (When numbering in input order, whether or not its worker passed it on before it died.)
        """
        if self.turn is not None:
            self.turn.passed(task.ticket)

    def drain(self) -> None:
        """Stop: start no more letters, finish and record those in progress.

        A further signal stops at once: the workers are killed, and the letters they were
        issuing are left for the next run to complete.
        """
        self.stopping = True
        self.stop.set()
        for future in self.in_flight:
            future.cancel()  # those no worker has taken yet
        self.summary.unfinished += len(self.retry)
        self.retry.clear()
        seen = len(self.signals.received)
        try:
            while self.in_flight:
                try:
                    self.collect(block=True, seen=seen)
                except ManifestError as error:
                    self.unrecorded.extend(error.unrecorded)
        except BatchInterrupted:
            self.kill_workers()
            self.at_once = True
            self.summary.unfinished += len(self.in_flight)
            self.in_flight.clear()
        # the rows still held wait for records that will have none: write them as they are
        try:
            self.write_in_order(everything=True)
        except ManifestError as error:
            self.unrecorded.extend(error.unrecorded)

    def close(self) -> None:
        """Shut the pool down: its workers end, and their LibreOffice with them."""
        self.stop.set()
        self.pool.shutdown(wait=True, cancel_futures=True)


class BatchRunner:
    """Runs batches; build with the settings, then call :meth:`run` or :meth:`check`."""

    def __init__(
        self,
        settings: Settings,
        *,
        workers: int | None = None,
        out_dir: Path | None = None,
        window: int | None = None,
        share_libreoffice: bool = True,
        recycle_workers_after: int = 1000,
        ordered: bool = False,
    ):
        """Prepare a run with ``workers`` processes (default: every core).

        With ``share_libreoffice`` the workers share one LibreOffice: the one of the settings'
        ``converter.shared_folder``, or one of their own in a temporary folder. Without it, each
        worker starts its own.
        After about ``recycle_workers_after`` letters each (0: never), the workers are replaced
        by fresh ones: the libraries they use keep a little memory per letter (about 7 MB a
        thousand letters), so a long run would otherwise keep growing.
        With ``ordered``, letters are numbered in the input's order (see
        :mod:`docgen.batch.order`); otherwise in the order their workers reach the register.
        The manifest lists the records in the input's order either way.
        """
        self.settings = settings
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.out_dir = out_dir
        self.window = window or self.workers * 4
        self.share_libreoffice = share_libreoffice
        self.recycle_workers_after = recycle_workers_after
        self.ordered = ordered

    def _worker_settings(self, stack: contextlib.ExitStack) -> Settings:
        """The settings the workers run with: which LibreOffice folder, if any, they share."""
        converter = self.settings.converter
        if self.share_libreoffice and converter.shared_folder is not None:
            return self.settings  # the machine's shared LibreOffice, named in the settings
        folder = None
        if self.share_libreoffice:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="docgen-lo-")))
        shared = converter.model_copy(update={"shared_folder": folder})
        return self.settings.model_copy(update={"converter": shared})

    def _checked(self, records: Iterable[Record]) -> Iterator[Record]:
        """The records, with those that break their service's rules turned invalid."""
        catalogue = Catalogue.load(self.settings.templates / "catalogue.toml")
        today = today_in(self.settings.signing.timezone)
        for record in records:
            if record.request is not None:
                try:
                    catalogue.check_request(record.request, today=today, source=record.position)
                except RequestInvalid as error:
                    record = Record(record.position, None, error, record.request.request_id)
            yield record

    def check(
        self, records: Iterable[Record], *, progress: Progress | None = None
    ) -> Iterator[ManifestRow]:
        """Validate every record against the models and the catalogue; issue nothing."""
        summary = BatchSummary()
        for record in self._checked(records):
            row = (
                _invalid(record)
                if record.error is not None
                else ManifestRow(record.position, record.request_id, "valid")
            )
            summary.counts[row.status] += 1
            if progress:
                progress(summary)
            yield row

    def run(
        self,
        records: Iterable[Record],
        *,
        manifest: Path,
        progress: Progress | None = None,
        passphrases: dict[str, str] | None = None,
        on_problem: Callable[[ManifestRow], None] | None = None,
    ) -> BatchSummary:
        """Issue every valid record; write the manifest as results arrive; return the summary.

        ``passphrases`` (by Directorate General) are those asked for on a terminal; keys whose
        passphrase comes from a variable or file are opened by each worker itself.
        ``on_problem`` is told of every invalid or failed record as it happens.
        Raises :class:`BatchInterrupted` when stopped by SIGINT or SIGTERM (in the main thread)
        and :class:`ManifestError` when the manifest cannot be written; in both cases every
        letter finished is in the register, and in the manifest as far as it could be written.
        """
        summary = BatchSummary()
        sink = _Manifest(manifest)
        started = False
        try:
            # the signals are handled until the workers have ended
            with _Signals() as signals, contextlib.ExitStack() as stack:
                # entered first, so removed last: after the workers (and their LibreOffice) end
                settings = self._worker_settings(stack)
                run = _Run(
                    self, settings, sink, signals, summary, dict(passphrases or {}), progress,
                    on_problem,
                )  # fmt: skip
                stack.callback(run.close)
                try:
                    run.start_workers()
                    sink.begin()
                    started = True
                    self._feed(run, records)
                except BaseException as error:
                    # whatever stopped the run, what is in progress ends in the manifest
                    if started:
                        run.drain()
                    if isinstance(error, BatchInterrupted):
                        summary.seconds = time.monotonic() - run.started
                        raise BatchInterrupted(error.signum, summary, at_once=run.at_once) from None
                    if isinstance(error, ManifestError):
                        raise ManifestError(
                            str(error.args[0]), [*error.unrecorded, *run.unrecorded]
                        ) from None
                    raise
                summary.seconds = time.monotonic() - run.started
        finally:
            sink.close(started=started)
        return summary

    def _feed(self, run: _Run, records: Iterable[Record]) -> None:
        """Hand every record to the workers, keeping a bounded window in flight."""
        # by hand: the pool's own max_tasks_per_child can deadlock on Python 3.11 (gh-115634)
        per_pool = self.recycle_workers_after * self.workers
        pending = iter(self._checked(records))
        ordinal, ticket = -1, -1
        while True:
            with run.signals.waiting():
                record = next(pending, None)
            if record is None:
                break
            ordinal += 1
            if record.request is None:
                run.record(_invalid(record), ordinal)
                continue
            while len(run.in_flight) >= self.window:
                run.collect(block=True)
            if per_pool and run.submitted >= per_pool:
                while run.in_flight:
                    run.collect(block=True)
                run.new_pool()
            ticket += 1
            run.submit(_Task(record, record.request.model_dump_json(), ordinal, ticket))
            run.collect(block=False)
        while run.in_flight:
            run.collect(block=True)


def _invalid(record: Record) -> ManifestRow:
    error = record.error
    message = "; ".join(str(p) for p in error.problems) if error else "invalid"
    return ManifestRow(record.position, record.request_id, "invalid", error=message)


def _failure(record: Record, error: BaseException) -> ManifestRow:
    """The manifest row of a record whose worker raised ``error``."""
    request_id = record.request.request_id if record.request else record.request_id
    if isinstance(error, RequestInvalid):
        return _invalid(Record(record.position, None, error, request_id))
    if isinstance(error, DocgenError):
        return ManifestRow(
            record.position,
            request_id,
            "failed",
            error=str(error),
            retryable=is_retryable(error),
        )
    # a worker crash must not stop the batch
    return ManifestRow(
        record.position,
        request_id,
        "failed",
        error=f"{type(error).__name__}: {error}",
        retryable=is_retryable(error),
    )
