"""The trust services signing and archiving talk to: a timestamping authority, revocation data.

One :class:`TrustServices` holds the revocation data (OCSP responses, CRLs, certificates) fetched
for each signer and the timestamping authority's sample answer, kept while fresh, so a batch or a
web application asks the services once per signer, not once per letter. It is shared by threads:
every letter gets a validation context and a timestamp client of its own (pyHanko's contexts and
fetchers hold asyncio events and counters of the event loop that made them, each pyHanko call
runs its own loop, and asn1crypto objects must not be parsed by two threads, see
:mod:`docgen.sign.copies`); they look the answers up in one cache behind a lock
(:class:`RevocationAnswers`), which hands each a copy.

Every request ends, answered or not, within ``signing.timeout_seconds`` in all
(:func:`bounded_request`); a failed operation is tried ``signing.retries`` more times and then
refused with :class:`~docgen.errors.ServiceUnavailable`, which batches mark retryable. An answer
that is not a timestamp (garbage, an HTTP error) is a service failure too, not a signing error.

Example::

    services = TrustServices(settings)
    context = services.validation_context(owner)      # one per letter, from any thread
    stamper = services.timestamper()                  # likewise
    signed = services.with_retries(lambda: sign(...), "Could not sign", "nothing was written")
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

import requests
import urllib3.exceptions
from asn1crypto import cms, tsp, x509
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
from pyhanko_certvalidator.fetchers.api import Fetchers
from pyhanko_certvalidator.fetchers.common_utils import FetchBudget
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
from pyhanko_certvalidator.fetchers.requests_fetchers.cert_fetch_client import (
    RequestsCertificateFetcher,
)
from pyhanko_certvalidator.fetchers.requests_fetchers.crl_client import RequestsCRLFetcher
from pyhanko_certvalidator.fetchers.requests_fetchers.ocsp_client import RequestsOCSPFetcher
from pyhanko_certvalidator.fetchers.requests_fetchers.util import RequestsFetcherMixin

from docgen.config import Settings
from docgen.errors import ConfigError, ServiceUnavailable, SigningError
from docgen.lazy import PerProcess
from docgen.sign.copies import Kept, fresh_all, fresh_answer, keep_certificates, kept_answer

__all__ = ["RevocationAnswers", "TrustServices", "bounded_request", "fetching_context"]

log = logging.getLogger(__name__)
T = TypeVar("T")

# what a down, slow or broken timestamping authority or revocation service raises
_SERVICE_ERRORS = (
    TimestampRequestError,
    requests.RequestException,
    PyhankoSigningError,
    PathValidationError,
)


_DETAIL = 160  # characters of an error's own text shown to people; parsers can say a lot


def _short(text: str) -> str:
    return text if len(text) <= _DETAIL else text[: _DETAIL - 1] + "…"


def _problem(error: BaseException) -> str:
    if isinstance(error, TimestampRequestError):
        detail = error.args[0] if error.args else error  # pyHanko adds the response object
        return f"the timestamping authority did not answer properly ({_short(str(detail))})"
    if isinstance(error, requests.RequestException):
        return f"a service did not answer ({type(error).__name__})"
    return f"the revocation status could not be established ({_short(str(error))})"


def _reason(error: BaseException) -> str:
    """The operating system's words for a transport failure ("Connection reset by peer").

    requests and urllib3 nest it in their errors' arguments, as a tuple's repr, not a cause.
    """
    pending = [error]
    while pending:
        current = pending.pop()
        builtin = type(current).__module__ == "builtins"
        if builtin and isinstance(current, OSError) and current.strerror:
            return current.strerror
        pending += [part for part in current.args if isinstance(part, BaseException)]
        if current.__cause__ is not None:
            pending.append(current.__cause__)
    return _short(_cause(error))


_READ = 64 * 1024


def bounded_request(method: str, url: str, timeout: float, **options: Any) -> requests.Response:
    """An HTTP request that ends, answered or not, within ``timeout`` seconds in all.

    requests' own ``timeout`` bounds the connection and each read of the socket, not the
    request: a service that sends its answer a byte a second never trips it, and a letter
    waited for minutes. So the request runs in a daemon thread that reads the body as it comes
    (``read1``, not waiting for full chunks) and stops at the deadline, while the caller stops
    waiting at the deadline whatever that thread is blocked on (a name lookup, headers trickling
    in). Raises :class:`requests.Timeout` at the deadline, :class:`requests.RequestException` on
    a transport failure; the returned response's ``content`` is already read. ``options`` are
    those of :meth:`requests.Session.request`.
    """
    deadline = time.monotonic() + timeout
    given_up = threading.Event()
    outcome: queue.SimpleQueue[requests.Response | BaseException] = queue.SimpleQueue()

    def run() -> None:
        try:
            with (
                requests.Session() as session,
                session.request(method, url, timeout=timeout, stream=True, **options) as response,
            ):
                body = bytearray()
                try:
                    while chunk := response.raw.read1(_READ, decode_content=True):
                        body += chunk
                        if given_up.is_set() or time.monotonic() > deadline:
                            raise requests.Timeout(f"no complete answer within {timeout:g} s")
                except urllib3.exceptions.ReadTimeoutError as error:
                    raise requests.Timeout(str(error)) from error
                except (urllib3.exceptions.HTTPError, OSError) as error:
                    if isinstance(error, requests.RequestException):
                        raise
                    raise requests.ConnectionError(str(error)) from error
                response._content = bytes(body)  # what ``response.content`` answers from
            outcome.put(response)
        except BaseException as error:  # handed over, and raised in the caller's thread
            outcome.put(error)

    threading.Thread(target=run, name=f"docgen {method} {url}", daemon=True).start()
    try:
        result = outcome.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        given_up.set()  # the thread ends at its next read
        raise requests.Timeout(f"no complete answer within {timeout:g} s") from None
    if isinstance(result, BaseException):
        raise result
    return result


class _TimeStamper(RequestsHTTPTimeStamper):
    """pyHanko's requests timestamp client, with a deadline per request and strict answers.

    pyHanko posts with requests' per-read timeout, ignores the HTTP status and parses the
    answer lazily, so garbage surfaced later as a parser error ("Insufficient data - <170
    digits> bytes requested") that looked like a signing fault, not a service one.
    """

    def __init__(self, url: str, timeout: float, answers: RevocationAnswers):
        # pyHanko's constructor is unannotated; the types are these
        super().__init__(url, timeout=timeout)  # type: ignore[no-untyped-call]
        self._answers = answers

    async def async_dummy_response(self, md_algorithm: str) -> cms.ContentInfo:
        """The authority's sample answer, for sizing the signature and finding its certificates.

        Asked once and kept with the revocation answers (so a renewed authority certificate is
        seen once they are refreshed); each letter's client registers its own copy.
        """
        if md_algorithm not in self._dummy_response_cache:
            key = ("timestamp sample", self.url, md_algorithm)
            known = self._answers.get(key)
            if known is None:
                known = await super().async_dummy_response(md_algorithm)  # asks the authority
                self._answers.put(key, known)
            else:
                self._register_dummy(md_algorithm, known)  # type: ignore[no-untyped-call]
        dummy: cms.ContentInfo = self._dummy_response_cache[md_algorithm]
        return dummy

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """Post the request; anything but a timestamp reply is a TimestampRequestError."""

        def post() -> tsp.TimeStampResp:
            try:
                answer = bounded_request(
                    "POST",
                    self.url,
                    self.timeout,
                    data=req.dump(),
                    headers=self.request_headers(),
                    auth=self.auth,
                )
            except requests.Timeout as error:
                raise TimestampRequestError(str(error)) from error
            except OSError as error:  # requests' errors are OSErrors too
                raise TimestampRequestError(f"no answer ({_reason(error)})") from error
            if answer.status_code != 200:
                raise TimestampRequestError(f"it answered HTTP {answer.status_code}")
            if answer.headers.get("Content-Type") != "application/timestamp-reply":
                raise TimestampRequestError("its answer is not a timestamp reply")
            return tsp.TimeStampResp.load(answer.content)

        return await asyncio.to_thread(post)

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """A timestamp token; an answer that does not parse is the authority's failure.

        asn1crypto parses lazily, so garbage fails here, in pyHanko's reading of the answer.
        """
        try:
            token: cms.ContentInfo = await super().async_timestamp(message_digest, md_algorithm)
        except (ValueError, TypeError, KeyError, IndexError) as error:
            raise TimestampRequestError("its answer is not a valid timestamp reply") from error
        return token


class RevocationAnswers:
    """Revocation data and certificates fetched by any thread, kept while fresh; thread-safe.

    Keyed by whose letter asked (``owner``: a signer's certificate) and by what was asked, so a
    letter's validation context only ever holds answers about its own chain. Only answers are
    kept, never failures: a service that failed is asked again by the next letter. Answers are
    kept as bytes and every ``get`` returns new objects (see :mod:`docgen.sign.copies`). A
    forked child keeps the answers its parent had (they are data) and locks with a lock of its
    own.
    """

    def __init__(self, max_age: float):
        """Keep answers ``max_age`` seconds."""
        self._max_age = max_age
        self._lock = PerProcess(threading.Lock)
        self._answers: dict[Hashable, tuple[Kept[Any] | tuple[Kept[Any], ...], float]] = {}

    def get(self, key: Hashable) -> Any | None:
        """A copy of the answer kept for ``key``, or None if there is none or it is too old."""
        with self._lock.get():
            found = self._answers.get(key)
        if found is None or time.monotonic() - found[1] > self._max_age:
            return None
        return fresh_answer(found[0])

    def put(self, key: Hashable, answer: Any) -> None:
        """Keep ``answer`` (an ASN.1 value or a list of them) for ``key``; forget old answers."""
        kept = kept_answer(answer)
        if kept is None:
            return  # not something docgen knows how to copy: it is fetched again next time
        now = time.monotonic()
        with self._lock.get():
            self._answers = {
                known: entry
                for known, entry in self._answers.items()
                if now - entry[1] <= self._max_age
            }
            self._answers[key] = (kept, now)

    def clear(self) -> None:
        """Forget every answer (the next letters fetch afresh)."""
        with self._lock.get():
            self._answers = {}


class _BoundedFetches(RequestsFetcherMixin):
    """Revocation and certificate fetches through :func:`bounded_request`, not ``requests.get``.

    With ``answers`` set, an answer another letter's fetcher already has (in any thread) is
    taken from there instead of being fetched again. With ``allowed`` set, only those exact
    addresses are asked; any other is refused before a connection is made.
    """

    answers: RevocationAnswers | None = None
    owner: Hashable = None
    allowed: frozenset[str] | None = None

    async def _perform_fetch(self, tag: Any, fetch_fun: Callable[[], Awaitable[Any]]) -> Any:
        answers = self.answers
        if answers is None:
            return await super()._perform_fetch(tag, fetch_fun)  # type: ignore[no-untyped-call]
        key = (self.owner, type(self).__name__, tag)

        async def shared() -> Any:
            found = answers.get(key)
            if found is None:
                found = await fetch_fun()  # a failure raises: only answers are kept
                answers.put(key, found)
            return found

        # pyHanko's own bookkeeping still runs: it is what the context embeds in the letter
        return await super()._perform_fetch(tag, shared)  # type: ignore[no-untyped-call]

    def _get(self, url: str, *, acceptable_content_types: Any) -> Awaitable[requests.Response]:
        headers = {"Accept": ",".join(acceptable_content_types), "User-Agent": self.user_agent}
        return asyncio.to_thread(self._bounded, "GET", url, headers, None)

    def _post(
        self, url: str, data: bytes, *, content_type: str, acceptable_content_types: Any
    ) -> Awaitable[requests.Response]:
        headers = {
            "Accept": ",".join(acceptable_content_types),
            "User-Agent": self.user_agent,
            "Content-Type": content_type,
        }
        return asyncio.to_thread(self._bounded, "POST", url, headers, data)

    def _bounded(
        self, method: str, url: str, headers: dict[str, str], data: bytes | None
    ) -> requests.Response:
        if self.allowed is not None and url not in self.allowed:
            # an address from a certificate nobody vouched for: asking it would let whoever
            # made the certificate send requests from this host (server-side request forgery)
            raise requests.RequestException(f"{url} is not an address this validation may ask")
        # and no redirect away from an allowed address: the next one was vouched for by nobody
        answer = bounded_request(
            method,
            url,
            self.per_request_timeout,
            headers=headers,
            data=data,
            allow_redirects=self.allowed is None,
        )
        if answer.status_code != 200:
            raise requests.RequestException(f"status code {answer.status_code}")
        return answer


class _OCSPFetcher(_BoundedFetches, RequestsOCSPFetcher):
    pass


class _CRLFetcher(_BoundedFetches, RequestsCRLFetcher):
    def __init__(self, *, per_request_timeout: float, budget: FetchBudget):
        # pyHanko's constructor is unannotated; the types are these
        super().__init__(per_request_timeout=per_request_timeout, budget=budget)  # type: ignore[no-untyped-call]


class _CertificateFetcher(_BoundedFetches, RequestsCertificateFetcher):
    pass


class _FetcherBackend(RequestsFetcherBackend):
    """pyHanko's requests fetchers, each request bounded in all (:func:`bounded_request`).

    With ``allowed_urls``, OCSP and CRL requests go only to those addresses, and no issuer
    certificate is fetched at all (see :func:`fetching_context`).
    """

    def __init__(
        self,
        per_request_timeout: float,
        answers: RevocationAnswers | None = None,
        owner: Hashable = None,
        allowed_urls: frozenset[str] | None = None,
    ):
        super().__init__(per_request_timeout=per_request_timeout)
        self._answers = answers
        self._owner = owner
        self._allowed = allowed_urls

    def get_fetchers(self) -> Fetchers:
        """Fresh fetchers sharing one budget, as pyHanko's own backend makes them."""
        timeout = self.per_request_timeout
        budget = FetchBudget(self.limits)
        fetchers = (
            _OCSPFetcher(per_request_timeout=timeout, budget=budget),
            _CRLFetcher(per_request_timeout=timeout, budget=budget),
            _CertificateFetcher(per_request_timeout=timeout, budget=budget),
        )
        for fetcher in fetchers:
            fetcher.answers, fetcher.owner = self._answers, self._owner
        ocsp_fetcher, crl_fetcher, cert_fetcher = fetchers
        if self._allowed is not None:
            ocsp_fetcher.allowed = crl_fetcher.allowed = self._allowed
            # issuer addresses (AIA caIssuers) are asked while the path is still being built,
            # before anything in it is trusted: with a list, the path is built from what the
            # letter and the trust roots hold, and nothing is fetched for it
            cert_fetcher.allowed = frozenset()
        return Fetchers(
            ocsp_fetcher=ocsp_fetcher, crl_fetcher=crl_fetcher, cert_fetcher=cert_fetcher
        )


def fetching_context(
    timeout: float,
    answers: RevocationAnswers | None = None,
    owner: Hashable = None,
    *,
    allowed_urls: frozenset[str] | None = None,
    **options: Any,
) -> ValidationContext:
    """A new hard-fail context that fetches revocation data, for one letter, in one thread.

    A context may be used by one thread (one event loop) at a time: pyHanko's fetchers keep
    asyncio events bound to the loop that first waited on them. With ``answers``, what any
    thread fetched for ``owner`` is reused while it is fresh. With ``allowed_urls``, OCSP and
    CRL requests go to those exact addresses only and issuer certificates are never fetched:
    any other request fails (:class:`requests.RequestException`) before a connection is made.
    Without it (signing, where the certificates are docgen's own), every address a certificate
    names may be asked. ``options`` are :class:`ValidationContext`'s (``trust_roots``,
    ``moment`` ...).
    """
    return ValidationContext(
        **options,
        allow_fetching=True,
        revocation_mode="hard-fail",
        fetcher_backend=_FetcherBackend(timeout, answers, owner, allowed_urls),
    )


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
    """Timestamp clients and validation contexts for letters, sharing what the services answered.

    Safe between threads: each letter asks for its own client and context.
    """

    def __init__(self, settings: Settings):
        """Prepare (not yet contact) the services named in the settings."""
        signing = settings.signing
        self._settings = settings
        self._roots = keep_certificates(settings.verification.trust)
        self._answers = RevocationAnswers(signing.revocation_refresh_seconds)

    @property
    def timestamps(self) -> bool:
        """Whether a timestamping authority is configured."""
        return bool(self._settings.signing.timestamp_url)

    def trust_roots(self) -> list[x509.Certificate]:
        """New copies of the configured trust roots, for the calling thread."""
        return fresh_all(self._roots)

    def timestamper(self) -> RequestsHTTPTimeStamper:
        """A timestamp client for one letter (or one archive refresh), in the calling thread.

        Its sample answer comes from the shared cache; raises ConfigError without an authority.
        """
        signing = self._settings.signing
        if not signing.timestamp_url:
            raise ConfigError("No timestamping authority is configured (signing.timestamp_url)")
        return _TimeStamper(signing.timestamp_url, signing.timeout_seconds, self._answers)

    def validation_context(self, owner: str | None = None) -> ValidationContext:
        """A new context for one letter, that fetches revocation data or reuses ``owner``'s.

        Each owner (a signer's certificate, say) has answers of its own: pyHanko embeds in a
        letter every piece of revocation data its context holds, and one letter's validation
        data must be its own chain's. Another signer's OCSP response beside its own makes
        long-term validation fail once those responses are old. Without an owner, everything
        is fetched afresh (an archive refreshing letters of several signers). Use the context
        in the calling thread only, for one letter.
        """
        return fetching_context(
            self._settings.signing.timeout_seconds,
            self._answers if owner is not None else None,
            owner,
            trust_roots=self.trust_roots(),
        )

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
                log.warning("%s (%s); trying again", failure, _problem(error))
                time.sleep(min(2.0, 0.25 * attempt))
                self._answers.clear()  # fetch revocation data afresh on the next attempt
        raise AssertionError("unreachable")
