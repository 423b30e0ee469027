"""The trust services signing and archiving talk to: a timestamping authority, revocation data.

One :class:`TrustServices` per process holds one timestamp client and, per signer, a validation
context that fetches the signer's revocation data (OCSP, CRLs) and keeps it while it is fresh,
so a batch asks the services once per signer, not once per letter. Every request is bounded by
``signing.timeout_seconds``; a failed operation is tried ``signing.retries`` more times and then
refused with :class:`~docgen.errors.ServiceUnavailable`, which batches mark retryable.

Example::

    services = TrustServices(settings)
    signed = services.with_retries(lambda: sign(...), "Could not sign", "nothing was written")
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import requests
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.general import SigningError as PyhankoSigningError
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import (
    CRLFetchError,
    ExpiredError,
    InsufficientRevinfoError,
    NotYetValidError,
    OCSPFetchError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend

from docgen.config import Settings
from docgen.errors import ServiceUnavailable, SigningError

__all__ = ["TrustServices"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# what a down, slow or broken timestamping authority or revocation service raises
_SERVICE_ERRORS = (
    TimestampRequestError,
    requests.RequestException,
    PyhankoSigningError,
    PathValidationError,
)


def _problem(error: BaseException) -> str:
    if isinstance(error, TimestampRequestError):
        return f"the timestamping authority did not answer properly ({error})"
    if isinstance(error, requests.RequestException):
        return f"a service did not answer ({type(error).__name__})"
    return f"the revocation status could not be established ({error})"


def _cause(error: BaseException) -> str:
    while error.__cause__ is not None:
        error = error.__cause__
    return str(error) or type(error).__name__


def _about_services(error: BaseException) -> bool:
    """Whether a pyHanko signing error came from a service that did not answer properly."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(
            cause,
            TimestampRequestError | requests.RequestException | InsufficientRevinfoError
            | OCSPFetchError | CRLFetchError | OSError,
        ):  # fmt: skip
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _definitive(error: BaseException) -> bool:
    """Whether a failure is about the certificate itself (revoked, expired), not a service."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, RevokedError | ExpiredError | NotYetValidError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


class TrustServices:
    """The process's timestamp client and revocation-data cache; safe between threads."""

    def __init__(self, settings: Settings):
        """Prepare (not yet contact) the services named in the settings."""
        signing = settings.signing
        self._settings = settings
        self.timestamper = (
            RequestsHTTPTimeStamper(signing.timestamp_url, timeout=signing.timeout_seconds)
            if signing.timestamp_url
            else None
        )
        """The timestamp client, or None without a timestamping authority."""
        self._roots = [
            certificate
            for path in settings.verification.trust
            for certificate in load_certs_from_pemder([str(path)])
        ]
        self._lock = threading.Lock()
        self._contexts: dict[str, tuple[ValidationContext, float]] = {}

    def validation_context(self, owner: str | None = None) -> ValidationContext:
        """A context that fetches revocation data; ``owner``'s is kept while it is fresh.

        Each owner (a signer's certificate, say) has a context of its own: pyHanko embeds in a
        letter every piece of revocation data its context holds, and one letter's validation
        data must be its own chain's. Another signer's OCSP response beside its own makes
        long-term validation fail once those responses are old. Without an owner, a fresh
        context is made (an archive refreshing letters of several signers).
        """
        refresh = self._settings.signing.revocation_refresh_seconds
        with self._lock:
            known = self._contexts.get(owner) if owner is not None else None
            if known is not None and time.monotonic() - known[1] <= refresh:
                return known[0]
            context = ValidationContext(
                trust_roots=self._roots,
                allow_fetching=True,
                revocation_mode="hard-fail",
                fetcher_backend=RequestsFetcherBackend(
                    per_request_timeout=self._settings.signing.timeout_seconds
                ),
            )
            if owner is not None:
                self._contexts[owner] = (context, time.monotonic())
            return context

    def with_retries(self, action: Callable[[], T], failure: str, consequence: str) -> T:
        """Run ``action``; on a service failure try again, then raise ServiceUnavailable."""
        attempts = self._settings.signing.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return action()
            except _SERVICE_ERRORS as error:
                if _definitive(error):
                    raise SigningError(
                        f"{failure}: the signer's certificate is revoked or not valid "
                        f"({_cause(error)}); {consequence}"
                    ) from None
                if isinstance(error, PyhankoSigningError) and not _about_services(error):
                    raise SigningError(f"{failure}: {error}; {consequence}") from None
                if attempt == attempts:
                    raise ServiceUnavailable(
                        f"{failure}: {_problem(error)} (tried {attempts} times); {consequence}"
                    ) from None
                log.warning("%s (%s); trying again", failure, error)
                time.sleep(min(2.0, 0.25 * attempt))
                with self._lock:  # fetch revocation data afresh on the next attempt
                    self._context = None
        raise AssertionError("unreachable")
