"""Batch runs: many requests issued in parallel worker processes, safely resumable.

Each worker process builds one :class:`~docgen.pipeline.Issuer` when it starts (templates,
stylesheets, fonts, signing keys, register connection) and keeps it for the whole run; numbers
still come from the one register. The workers share one warm LibreOffice for their DOCX letters
(``share_libreoffice``, the default: one LibreOffice is 200–300 MB) or start one each (faster
on DOCX-only runs, when memory allows). The main process streams the input, keeps only a
bounded window of records in flight (memory stays flat), writes the manifest — one JSON line
per input record — as results arrive, and never renders or signs, so it stays small.

Every record ends as ``issued``, ``already_issued`` (skipped: issued by an earlier run),
``revoked`` (issued earlier, revoked since), ``invalid`` (validation failed) or ``failed``
(with ``retryable`` saying whether running again may succeed). A failure never stops the batch.

**Crash safety** comes from the register and the Issuer: a record issued before a crash is
skipped with its number when the same command runs again, a letter recorded but not yet renamed
is completed, and a reservation held by a process that died on this machine is taken over at
once. The manifest is rewritten from the start by every run, so after the rerun it is complete.
Two runs over overlapping input never issue a request twice: the second waits for the first to
finish a request it is working on, then reports it ``already_issued``.

Example::

    runner = BatchRunner(settings, workers=2)
    summary = runner.run(read_records(Path("today.jsonl")), manifest=Path("out/manifest.jsonl"))
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import multiprocessing.util
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docgen.batch.inputs import Record
from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.errors import DocgenError, LetterInProgress, RequestInvalid, is_retryable
from docgen.models import LetterRequest
from docgen.sign.passphrase import PassphrasePrompt

__all__ = ["BatchRunner", "BatchSummary", "ManifestRow", "Progress"]

_WAIT_FOR_OTHER_RUN = 300.0  # seconds a worker waits for another run to finish a request


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


def _given(secret: str | None) -> PassphrasePrompt | None:
    """A prompt that answers with a passphrase asked for earlier, if there is one."""
    return (lambda _: secret) if secret is not None else None


# ------------------------------------------------------------------ worker process side

_worker_issuer: Any = None
_worker_setup: tuple[Settings, dict[str, str]] | None = None


def _start_worker(settings: Settings, passphrases: dict[str, str]) -> None:
    """Remember the settings; the Issuer is built on the first task (see :func:`_issuer`)."""
    global _worker_setup
    _worker_setup = (settings, passphrases)


def _issuer() -> Any:
    """The worker's Issuer, built once: keys opened (passphrases from the main process)."""
    global _worker_issuer
    if _worker_issuer is None:
        from docgen.pipeline import Issuer
        from docgen.sign import open_backend

        assert _worker_setup is not None
        settings, passphrases = _worker_setup
        signers = {}
        for directorate, key in settings.signing.keys.items():
            signers[directorate] = open_backend(key, _given(passphrases.get(directorate)))
        _worker_issuer = Issuer(settings, signers=signers)
        # a pool worker ends through multiprocessing, which runs Finalize callbacks but no
        # atexit handlers: this is what stops the LibreOffice a worker started
        multiprocessing.util.Finalize(None, _worker_issuer.close, exitpriority=10)
    return _worker_issuer


def _open_keys_in_worker() -> None:
    """The run's first task: a wrong passphrase or unreadable key fails here, cleanly."""
    _issuer()


def _issue_in_worker(position: str, request_json: str, out_dir: str | None) -> ManifestRow:
    from docgen.pipeline import Issuer

    issuer: Issuer = _issuer()
    request = LetterRequest.model_validate_json(request_json)
    deadline = time.monotonic() + _WAIT_FOR_OTHER_RUN
    pause = 0.2
    while True:
        try:
            letter = issuer.issue(
                request, out_dir=Path(out_dir) if out_dir else None, source=position
            )
        except LetterInProgress:
            # another run holds this request: wait for it to finish, then report its letter
            if time.monotonic() > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 5.0)
            continue
        return ManifestRow(
            position=position,
            request_id=request.request_id,
            status=letter.outcome.value,
            letter_number=letter.letter_number,
            path=str(letter.path),
            sha256=letter.sha256,
        )


# ------------------------------------------------------------------ main process side


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
    ):
        """Prepare a run with ``workers`` processes (default: every core).

        With ``share_libreoffice`` the workers share one LibreOffice: the one of the settings'
        ``converter.shared_folder``, or one of their own in a temporary folder. Without it, each
        worker starts its own.
        After about ``recycle_workers_after`` letters each (0: never), the workers are replaced
        by fresh ones: the libraries they use keep a little memory per letter (about 7 MB a
        thousand letters), so a long run would otherwise keep growing.
        """
        self.settings = settings
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.out_dir = out_dir
        self.window = window or self.workers * 4
        self.share_libreoffice = share_libreoffice
        self.recycle_workers_after = recycle_workers_after

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
        for record in records:
            if record.request is not None:
                try:
                    catalogue.check_request(record.request, source=record.position)
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
        """
        started = time.monotonic()
        summary = BatchSummary()
        manifest.parent.mkdir(parents=True, exist_ok=True)
        secrets = dict(passphrases or {})
        out = str(self.out_dir) if self.out_dir else None
        context = multiprocessing.get_context("spawn")  # no inherited locks or connections
        with contextlib.ExitStack() as stack:
            # entered first, so removed last: after the workers (and their LibreOffice) end
            settings = self._worker_settings(stack)
            sink = stack.enter_context(manifest.open("w", encoding="utf-8"))

            def new_pool() -> ProcessPoolExecutor:
                return ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_start_worker,
                    initargs=(settings, secrets),
                )

            pool = new_pool()
            stack.callback(lambda: pool.shutdown())  # whichever pool is current at the end
            # one worker opens every key first: a wrong passphrase stops the run before it
            # starts (the main process itself never loads the cryptography)
            pool.submit(_open_keys_in_worker).result()
            # by hand: the pool's own max_tasks_per_child can deadlock on Python 3.11 (gh-115634)
            per_pool = self.recycle_workers_after * self.workers
            submitted = 0

            def record_row(row: ManifestRow) -> None:
                sink.write(row.to_json() + "\n")
                sink.flush()
                if on_problem is not None and row.status in ("invalid", "failed"):
                    on_problem(row)
                summary.counts[row.status] += 1
                summary.seconds = time.monotonic() - started
                if progress:
                    progress(summary)

            in_flight: dict[Future[ManifestRow], Record] = {}

            def collect(block_until_one: bool) -> None:
                if not in_flight:
                    return
                done, _ = wait(
                    in_flight, timeout=None if block_until_one else 0, return_when=FIRST_COMPLETED
                )
                for future in done:
                    record = in_flight.pop(future)
                    record_row(_result(future, record))

            for record in self._checked(records):
                if record.request is None:
                    record_row(_invalid(record))
                    continue
                while len(in_flight) >= self.window:
                    collect(block_until_one=True)
                if per_pool and submitted >= per_pool:
                    while in_flight:
                        collect(block_until_one=True)
                    pool.shutdown()
                    pool, submitted = new_pool(), 0
                future = pool.submit(
                    _issue_in_worker, record.position, record.request.model_dump_json(), out
                )
                submitted += 1
                in_flight[future] = record
                collect(block_until_one=False)
            while in_flight:
                collect(block_until_one=True)
            sink.flush()
            os.fsync(sink.fileno())
        summary.seconds = time.monotonic() - started
        return summary


def _invalid(record: Record) -> ManifestRow:
    error = record.error
    message = "; ".join(str(p) for p in error.problems) if error else "invalid"
    return ManifestRow(record.position, record.request_id, "invalid", error=message)


def _result(future: Future[ManifestRow], record: Record) -> ManifestRow:
    request_id = record.request.request_id if record.request else record.request_id
    try:
        return future.result()
    except RequestInvalid as error:
        return _invalid(Record(record.position, None, error, request_id))
    except DocgenError as error:
        return ManifestRow(
            record.position,
            request_id,
            "failed",
            error=str(error),
            retryable=is_retryable(error),
        )
    except Exception as error:  # a worker crash must not stop the batch
        return ManifestRow(
            record.position,
            request_id,
            "failed",
            error=f"{type(error).__name__}: {error}",
            retryable=is_retryable(error),
        )
