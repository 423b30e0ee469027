"""What one verification site holds: the register (read-only), the catalogue, the verifiers.

Safe between threads and across a fork: the register and the verifiers make what they need in
each process that uses them.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from docgen.catalogue import Catalogue
from docgen.config import Settings
from docgen.errors import ConfigError
from docgen.lazy import PerProcess
from docgen.register import Register, open_register
from docgen.reports import VerificationReport
from docgen.resources import Closing
from docgen.verify.isolated import IsolatedVerifier
from docgen.web.guard import RateLimiter
from docgen.web.uploads import UploadRefused
from docgen.web.views import REGISTER_ID, LetterView, letter_view

if TYPE_CHECKING:
    from docgen.verify.verifier import Verifier

__all__ = ["Site"]

log = logging.getLogger("docgen.web")


def _verifier(settings: Settings) -> Verifier:
    """A verifier for the settings, made in the verification process.

    Only that process imports pyHanko: the server's own processes stay small.
    """
    from docgen.verify.verifier import Verifier

    return Verifier.from_settings(settings)


class _Queue:
    """The free verifiers of one process, handed to waiting uploads in the order they came.

    A plain queue lets a newly arrived upload take a verifier that an upload waiting for
    seconds was about to get; under load some uploads then wait far longer than others.
    """

    def __init__(self, verifiers: tuple[IsolatedVerifier, ...]):
        self._lock = threading.Lock()
        self._free = list(verifiers)
        self._waiting: deque[tuple[threading.Event, list[IsolatedVerifier]]] = deque()

    def take(self) -> IsolatedVerifier:
        """The next free verifier, waiting behind those who came first."""
        with self._lock:
            if self._free and not self._waiting:
                return self._free.pop()
            turn: tuple[threading.Event, list[IsolatedVerifier]] = (threading.Event(), [])
            self._waiting.append(turn)
        turn[0].wait()
        return turn[1][0]

    def give(self, verifier: IsolatedVerifier) -> None:
        """Return a verifier: to the upload waiting longest, or to the free ones."""
        with self._lock:
            if self._waiting:
                event, slot = self._waiting.popleft()
                slot.append(verifier)
                event.set()
            else:
                self._free.append(verifier)


class _Verifiers(Closing):
    """A few isolated verifiers, each taking one upload at a time (in each process)."""

    def __init__(self, settings: Settings, factory: Callable[[], Verifier] | None):
        web = settings.web
        factory = factory or functools.partial(_verifier, settings)
        self._all = tuple(
            IsolatedVerifier(
                factory,
                seconds=web.time_budget_seconds,
                memory_mb=web.memory_budget_mb,
                max_file_bytes=web.upload_max_bytes,
            )
            for _ in range(web.verifiers)
        )
        self._free: PerProcess[_Queue] = PerProcess(lambda: _Queue(self._all))

    def start(self) -> None:
        """Start every verification process of this process now."""
        for verifier in self._all:
            verifier.start()

    def verify(self, data: bytes, name: str) -> VerificationReport:
        """Verify with the first free verifier (waiting in turn for one)."""
        free = self._free.get()
        verifier = free.take()
        try:
            return verifier.verify(data, name=name)
        finally:
            free.give(verifier)

    def close(self) -> None:
        """Stop this process's verification processes."""
        for verifier in self._all:
            verifier.close()


class Site(Closing):
    """The verification site's state: build once per application, share between requests."""

    def __init__(
        self,
        settings: Settings,
        *,
        register: Register | None = None,
        verifier: Callable[[], Verifier] | None = None,
    ):
        """Open the register read-only and load the catalogue; verifiers start on first use.

        ``verifier`` (picklable) makes the verifier in each verification process; by default
        one from ``settings``.
        """
        if not settings.verification.trust:
            # refused here, before serving: the verification processes would refuse every file
            raise ConfigError(
                "No trust roots configured: the site would trust nobody. Name the certificates "
                "to trust in verification.trust (docgen.toml)"
            )
        self.settings = settings
        self.zone = ZoneInfo(settings.signing.timezone)
        self.catalogue = Catalogue.load(settings.templates / "catalogue.toml")
        self.register = register or open_register(settings, read_only=True)
        self._owns_register = register is None
        self.verifiers = _Verifiers(settings, verifier)
        self.rate = RateLimiter(settings.web.uploads_per_minute)
        self._held = 0
        self._held_lock = threading.Lock()

    @property
    def letter_path(self) -> str:
        """The path of the QR codes' addresses, without its trailing slash (``/surat``)."""
        return urlsplit(self.settings.esign.verification_base_url).path.rstrip("/")

    def letter(self, register_id: str) -> LetterView | None:
        """The public view of an issued letter; None for any id that was never issued.

        An id typed in capitals (from a printout) is the same id.
        """
        register_id = register_id.lower()
        if not REGISTER_ID.fullmatch(register_id):
            return None
        record = self.register.get(register_id)
        if record is None:
            return None
        return letter_view(record, self.settings, self.catalogue, self.zone)

    def hold_upload(self, client: str) -> None:
        """Admit an upload from ``client``, or refuse it (rate limit, or too many at once).

        Each admitted upload must be let go with :meth:`release_upload`.
        """
        wait = self.rate.allow(client)
        if wait:
            seconds = int(wait) + 1
            raise UploadRefused(
                429,
                "rate_limited",
                f"Too many files from your address; try again in {seconds} s",
                retry_after=seconds,
            )
        with self._held_lock:
            if self._held >= self.settings.web.uploads_waiting:
                raise UploadRefused(
                    503,
                    "busy",
                    "The site is verifying many files; try again in a minute",
                    retry_after=60,
                )
            self._held += 1

    def release_upload(self) -> None:
        """Let go of an upload admitted by :meth:`hold_upload`."""
        with self._held_lock:
            self._held -= 1

    def verify(self, data: bytes, name: str) -> VerificationReport:
        """Verify an upload within the budget; only its size and verdict are logged."""
        report = self.verifiers.verify(data, name)
        log.info("verified an upload of %d bytes: %s", len(data), report.verdict.value)
        return report

    def readiness(self) -> list[str]:
        """What keeps the site from serving: empty when it is ready."""
        problems = []
        try:
            self.register.schema_version  # noqa: B018 - a query: the register answers
        except Exception as error:
            problems.append(f"register: {error}")
        try:
            self.verifiers.start()
        except Exception as error:
            problems.append(f"verification: {error}")
        return problems

    def close(self) -> None:
        """Stop the verifiers; close the register if the site opened it."""
        self.verifiers.close()
        if self._owns_register:
            self.register.close()
