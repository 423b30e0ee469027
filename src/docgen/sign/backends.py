"""Signer backends: where the private key lives and how a raw signature is made.

A backend hands pyHanko a ready :class:`pyhanko.sign.signers.Signer`. Local keys (PKCS#12 and
PEM) are opened **once**: the passphrase is used, the key parsed and checked, and the parsed key
kept for every later signature. pyHanko's own ``SimpleSigner`` parses the key again for every
raw signature, twice per letter, which with an RSA-3072 key costs several times the rest of the
signature.

Passphrases come from an environment variable, a file, or a prompt — never from the command
line — and never appear in a message.

Example::

    backend = open_backend(settings.signing.keys["ILMATE"])
    signer = backend.signer.for_letter()   # a pyHanko Signer for one letter, in any thread
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from asn1crypto import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.keys import load_certs_from_pemder
from pyhanko.sign.signers import Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash, process_pss_params

from docgen.config import KeySettings
from docgen.errors import SigningError
from docgen.sign.copies import fresh
from docgen.sign.passphrase import PassphrasePrompt, read_passphrase

__all__ = [
    "LetterSigner",
    "LocalKeySigner",
    "PassphrasePrompt",
    "SignerBackend",
    "common_name",
    "open_backend",
    "read_passphrase",
]


class LetterSigner(Signer):
    """A pyHanko signer that gives each letter a copy with certificates of its own.

    The key (or token session) is shared; the certificates are not, since asn1crypto objects
    must not be parsed by two threads (see :mod:`docgen.sign.copies`). The shared signer's
    certificates are only ever copied, never parsed, once it is in use.
    """

    def for_letter(self) -> Self:
        """A copy of this signer for one letter, to be used in the calling thread only."""
        certificate = self.signing_cert
        mechanism = self.signature_mechanism
        registry = SimpleCertificateStore()
        registry.register_multiple([fresh(known) for known in self.cert_registry])
        own = copy.copy(self)
        Signer.__init__(
            own,
            prefer_pss=self.prefer_pss,
            embed_roots=self.embed_roots,
            signature_mechanism=fresh(mechanism) if mechanism is not None else None,
            signing_cert=fresh(certificate) if certificate is not None else None,
            cert_registry=registry,
        )
        return own


class LocalKeySigner(LetterSigner):
    """A pyHanko signer around a private key parsed once and kept in memory."""

    def __init__(
        self,
        key: RSAPrivateKey | EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        chain: list[x509.Certificate],
    ):
        """Wrap a parsed key, its certificate and the issuing CAs' certificates."""
        registry = SimpleCertificateStore()
        registry.register_multiple(chain)
        super().__init__(signing_cert=certificate, cert_registry=registry)
        self._key = key

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        """Sign ``data`` with the kept key (pyHanko calls this once per signature)."""
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algorithm = mechanism.signature_algo
        key = self._key
        if algorithm == "rsassa_pkcs1v15" and isinstance(key, RSAPrivateKey):
            return key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))
        if algorithm == "rsassa_pss" and isinstance(key, RSAPrivateKey):
            padding, hash_algorithm = process_pss_params(mechanism["parameters"])
            return key.sign(data, padding, hash_algorithm)
        if algorithm == "ecdsa" and isinstance(key, EllipticCurvePrivateKey):
            return key.sign(data, ECDSA(get_pyca_cryptography_hash(digest_algorithm)))
        raise SigningError(f"Signature mechanism {algorithm} is not supported for this key")


@dataclass(frozen=True, slots=True)
class SignerBackend:
    """A ready signer and a description of who signs with it."""

    signer: LetterSigner
    """The pyHanko signer (each letter signs with :meth:`LetterSigner.for_letter`)."""
    subject: str
    """The signing certificate's subject, as people read it."""
    kind: str
    """Which backend: ``pkcs12``, ``pem``, ``pkcs11`` (later ``remote``)."""


def common_name(certificate: x509.Certificate) -> str:
    """The certificate subject's common name (the whole subject when it has none)."""
    name = certificate.subject.native.get("common_name")
    return str(name) if name else str(certificate.subject.human_friendly)


def _to_asn1(certificate: object) -> x509.Certificate:
    from cryptography import x509 as pyca_x509

    assert isinstance(certificate, pyca_x509.Certificate)
    return x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _check_key(key: object, source: Path) -> RSAPrivateKey | EllipticCurvePrivateKey:
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey):
        raise SigningError(f"The key in {source} is neither RSA nor EC; docgen cannot sign with it")
    return key


def _open_pkcs12(path: Path, passphrase: bytes | None) -> LocalKeySigner:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SigningError(f"Cannot read the signing key {path}: {error.strerror}") from None
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, passphrase)
    except ValueError:
        # the message of cryptography's error may not say which; never echo the passphrase
        raise SigningError(
            f"Cannot open the signing key {path}: wrong passphrase, or not a PKCS#12 file"
        ) from None
    if certificate is None:
        raise SigningError(f"The signing key {path} holds no certificate")
    return LocalKeySigner(
        _check_key(key, path), _to_asn1(certificate), [_to_asn1(c) for c in others]
    )


def _open_pem(settings: KeySettings, passphrase: bytes | None) -> LocalKeySigner:
    assert settings.key is not None and settings.certificate is not None
    try:
        key_data = settings.key.read_bytes()
        certificates = list(load_certs_from_pemder([str(settings.certificate)]))
        chain = list(load_certs_from_pemder([str(p) for p in settings.chain]))
    except OSError as error:
        raise SigningError(f"Cannot read the signing key or certificate: {error}") from None
    try:
        key = serialization.load_pem_private_key(key_data, password=passphrase)
    except (ValueError, TypeError):
        raise SigningError(
            f"Cannot open the signing key {settings.key}: wrong passphrase, or not a PEM key"
        ) from None
    if len(certificates) != 1:
        raise SigningError(f"{settings.certificate} must hold exactly one certificate")
    return LocalKeySigner(_check_key(key, settings.key), certificates[0], chain)


def open_backend(settings: KeySettings, prompt: PassphrasePrompt | None = None) -> SignerBackend:
    """Open a configured key once; the result signs any number of letters."""
    if settings.pkcs11_module is not None:
        from docgen.sign.pkcs11 import open_pkcs11  # loads python-pkcs11 only when used

        return open_pkcs11(settings, prompt)
    passphrase = read_passphrase(settings, prompt)
    if settings.pkcs12 is not None:
        signer, kind = _open_pkcs12(settings.pkcs12, passphrase), "pkcs12"
    else:
        signer, kind = _open_pem(settings, passphrase), "pem"
    certificate = signer.signing_cert
    assert certificate is not None
    subject = common_name(certificate)
    return SignerBackend(signer=signer, subject=subject, kind=kind)
