"""Keys on PKCS#11 tokens and HSMs: the private key never leaves the device.

A key is configured by the token's PKCS#11 library, the token's label and the key's label (see
:class:`docgen.config.KeySettings`). Its certificate is read from the token (``cert_label``, by
default the key's label) unless ``certificate`` names a PEM file; the chain is ``chain`` when
given, else every other certificate on the token.

**One session per token and process.** The first key opened on a token logs in with the token's
user PIN (read like a passphrase: ``passphrase_env``, ``passphrase_file``, else the prompt; never
from the command line, never in a message) and the session is kept for the life of the process;
later keys on the same token share it without asking for the PIN again. The session is shared
by threads: python-pkcs11 runs one operation at a time on it. The sessions are closed (and the
token logged out) when the process ends, by an :mod:`atexit` handler; :func:`close_sessions`
closes them earlier. If the token is pulled out, signing fails with a :class:`SigningError`
until the process is restarted.

**Forked processes.** PKCS#11 sessions do not survive a fork: a child must initialise the
module again and log in with sessions of its own. A key opened in a parent signs in a forked
child (a web server's worker) by doing just that on its first signature there, with the PIN the
parent read (kept in memory for this, like the parsed keys of PKCS#12 files); the parent's
sessions are never used, closed or logged out by the child.

Example::

    backend = open_backend(settings.signing.keys["ILMATE"])   # pkcs11_module etc. configured
    backend.kind                                              # "pkcs11"
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import pkcs11
from asn1crypto import x509
from pkcs11 import Attribute, ObjectClass, PKCS11Error, Session, UserType
from pkcs11.exceptions import (
    PinExpired,
    PinIncorrect,
    PinInvalid,
    PinLenRange,
    PinLocked,
    UserPinNotInitialized,
)
from pyhanko.config.pkcs11 import TokenCriteria
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.pkcs11 import PKCS11Signer, open_pkcs11_session

from docgen.config import KeySettings
from docgen.errors import SigningError
from docgen.lazy import PerProcess
from docgen.sign.backends import (
    LetterSigner,
    PassphrasePrompt,
    SignerBackend,
    common_name,
    read_passphrase,
)

__all__ = ["TokenSigner", "close_sessions", "open_pkcs11"]

_sessions: PerProcess[dict[tuple[str, str], Session]] = PerProcess(dict)
"""Open sessions by (module, token label): one per token and process."""
_sessions_lock = PerProcess(threading.Lock)
_pins: dict[tuple[str, str], tuple[int, str | None]] = {}
"""The process that logged in to each token, and the PIN: a forked child logs in with it."""
_initialised_in: dict[str, int] = {}
"""The process that initialised each PKCS#11 module (a forked child must initialise it again)."""


def _describe(error: PKCS11Error) -> str:
    return str(error) or type(error).__name__


class TokenSigner(LetterSigner, PKCS11Signer):
    """pyHanko's PKCS#11 signer whose failures are docgen :class:`SigningError` s."""

    def __init__(
        self,
        session: Session,
        *,
        token_label: str,
        reopen: Callable[[], Session] | None = None,
        **options: Any,
    ):
        """A signer for a key on ``session``; ``options`` are :class:`PKCS11Signer`'s.

        ``reopen`` gives the calling process's own session on the token: a forked child
        signs through it, never through the parent's ``session``.
        """
        super().__init__(session, **options)
        self.token_label = token_label
        self._reopen = reopen
        self._process = os.getpid()
        self._moving = PerProcess(threading.Lock)

    def _in_this_process(self) -> None:
        """In a forked child, before its first signature: its own session and key handle."""
        if self._process == os.getpid():
            return
        with self._moving.get():
            if self._process == os.getpid():
                return
            if self._reopen is None:
                raise SigningError(
                    f"The PKCS#11 token {self.token_label!r} was opened in another process; "
                    "open the key again in this one"
                )
            try:
                self.pkcs11_session = self._reopen()
                self._key_handle = self._pull_signing_key_handle()  # type: ignore[no-untyped-call]
            except PKCS11Error as error:
                raise SigningError(
                    f"The PKCS#11 token {self.token_label!r} could not be opened in this "
                    f"process: {_describe(error)}"
                ) from None
            self._process = os.getpid()

    def for_letter(self) -> Self:
        """A copy for one letter; in a forked child, this process's session is opened first.

        Moving first means the shared signer moves once per process, not each letter's copy.
        """
        self._in_this_process()
        return super().for_letter()

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Sign on the token; a token error (pulled out, logged out) becomes a SigningError."""
        self._in_this_process()
        try:
            signature: bytes = await super().async_sign_raw(data, digest_algorithm, dry_run)
        except PKCS11Error as error:
            raise SigningError(
                f"The PKCS#11 token {self.token_label!r} could not sign: {_describe(error)}"
            ) from error
        return signature


def close_sessions() -> None:
    """Close every token session this process opened (also done when the process ends).

    A forked child closes only its own: its parent's stay open, in the parent.
    """
    with _sessions_lock.get():
        opened = _sessions.get()
        sessions = list(opened.values())
        opened.clear()
    for session in sessions:
        with contextlib.suppress(PKCS11Error):  # the token may be gone: nothing to release
            session.close()


atexit.register(close_sessions)


def _session(settings: KeySettings, prompt: PassphrasePrompt | None) -> Session:
    """The token's session: opened and logged in on first use, then shared."""
    assert settings.pkcs11_module is not None and settings.token_label is not None
    module, token = str(settings.pkcs11_module), settings.token_label
    with _sessions_lock.get():
        opened = _sessions.get()
        session = opened.get((module, token))
        if session is None:
            remembered = _pins.get((module, token))
            if remembered is not None and remembered[0] != os.getpid():
                pin = remembered[1]  # read by the process this one was forked from
            else:
                ask = None
                if prompt is not None:
                    ask = lambda _: prompt(f"PKCS#11 token {token!r} (user PIN)")  # noqa: E731
                secret = read_passphrase(settings, ask)
                pin = secret.decode() if secret is not None else None
            session = _open_session(module, token, pin)
            opened[module, token] = session
            _pins[module, token] = (os.getpid(), pin)
        return session


def _library(module: str) -> Any:
    """The PKCS#11 module, initialised in this process (again, in a forked child)."""
    library = pkcs11.lib(module)
    if _initialised_in.setdefault(module, os.getpid()) != os.getpid():
        # the parent's initialisation does not carry over a fork; finalising first is the only
        # way python-pkcs11 initialises again (a module that knows it was forked refuses it)
        with contextlib.suppress(PKCS11Error):
            library.finalize()
        library.initialize()
        _initialised_in[module] = os.getpid()
    return library


def _open_session(module: str, token: str, pin: str | None) -> Session:
    if not Path(module).is_file():
        raise SigningError(
            f"The PKCS#11 module {module} was not found (settings: signing.keys.*.pkcs11_module)"
        )
    try:
        slots = _library(module).get_slots(token_present=True)
        present = [label for label in (slot.get_token().label for slot in slots) if label]
    except PKCS11Error as error:
        raise SigningError(f"Cannot load the PKCS#11 module {module}: {_describe(error)}") from None
    if token not in present:
        found = ", ".join(repr(label) for label in present) or "none"
        raise SigningError(
            f"No PKCS#11 token labelled {token!r} was found in {module} (tokens present: {found})"
        )
    try:
        return open_pkcs11_session(module, token_criteria=TokenCriteria(label=token), user_pin=pin)
    except (PinIncorrect, PinInvalid, PinLenRange):
        # the PIN itself is never part of the message
        raise SigningError(f"Cannot log in to the PKCS#11 token {token!r}: wrong PIN") from None
    except PinLocked:
        raise SigningError(
            f"The PIN of the PKCS#11 token {token!r} is locked; its security officer must unlock it"
        ) from None
    except (PinExpired, UserPinNotInitialized):
        raise SigningError(
            f"The user PIN of the PKCS#11 token {token!r} is expired or not set; set a new one"
        ) from None
    except PKCS11Error as error:
        raise SigningError(f"Cannot open the PKCS#11 token {token!r}: {_describe(error)}") from None


def _certificates_from_files(
    settings: KeySettings,
) -> tuple[x509.Certificate | None, list[x509.Certificate]]:
    try:
        chain = list(load_certs_from_pemder([str(p) for p in settings.chain]))
        if settings.certificate is None:
            return None, chain
        certificates = list(load_certs_from_pemder([str(settings.certificate)]))
    except OSError as error:
        raise SigningError(f"Cannot read the signing certificate or chain: {error}") from None
    if len(certificates) != 1:
        raise SigningError(f"{settings.certificate} must hold exactly one certificate")
    return certificates[0], chain


def open_pkcs11(settings: KeySettings, prompt: PassphrasePrompt | None = None) -> SignerBackend:
    """Open a key on a PKCS#11 token (logging in once per token and process)."""
    assert settings.token_label is not None and settings.key_label is not None
    token, key_label = settings.token_label, settings.key_label
    certificate, chain = _certificates_from_files(settings)
    session = _session(settings, prompt)
    try:
        keys = list(
            session.get_objects(
                {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.LABEL: key_label}
            )
        )
    except PKCS11Error as error:
        raise SigningError(
            f"Cannot search the PKCS#11 token {token!r}: {_describe(error)}"
        ) from None
    if len(keys) != 1:
        problem = "No private key" if not keys else "More than one private key"
        hint = ""
        if getattr(session, "user_type", None) == UserType.NOBODY:  # not in the type stubs
            hint = " (not logged in: no PIN was given; set passphrase_env or passphrase_file)"
        raise SigningError(f"{problem} labelled {key_label!r} on the PKCS#11 token {token!r}{hint}")
    signer = TokenSigner(
        session,
        token_label=token,
        reopen=lambda: _session(settings, None),
        key_label=key_label,
        cert_label=None if certificate is not None else settings.cert_label or key_label,
        signing_cert=certificate,
        ca_chain=chain,
        # without a configured chain, the token's other certificates are the chain
        other_certs_to_pull=() if chain else None,
    )
    try:
        signing_cert = signer.signing_cert  # loads the certificate and the key handle now
    except PKCS11Error as error:
        raise SigningError(
            f"Cannot use the key {key_label!r} on the PKCS#11 token {token!r}: {_describe(error)}"
        ) from None
    if not isinstance(signing_cert, x509.Certificate):
        raise SigningError(f"No certificate for the key {key_label!r} on the token {token!r}")
    return SignerBackend(signer=signer, subject=common_name(signing_cert), kind="pkcs11")
