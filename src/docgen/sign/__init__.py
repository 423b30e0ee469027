"""Signing: signer backends (where keys live) and the PAdES step (what a signature looks like).

A remote signing service (the national CA keeps the key) fits the same place:
:class:`RemoteBackend` (see :mod:`docgen.sign.remote`).

Example::

    backend = open_backend(settings.signing.keys["AGRO"])
    signed = PadesSigner(settings).sign(pdf, backend, request.signatory, url)
"""

from docgen.errors import SigningError
from docgen.sign.backends import (
    LocalKeySigner,
    PassphrasePrompt,
    SignerBackend,
    open_backend,
    read_passphrase,
)
from docgen.sign.pades import QR_ANCHOR, SIGNATURE_ANCHOR, PadesSigner, SignedPdf
from docgen.sign.remote import (
    RemoteBackend,
    RemoteSigningRefused,
    RemoteSigningService,
    SignatureField,
)

__all__ = [
    "QR_ANCHOR",
    "SIGNATURE_ANCHOR",
    "LocalKeySigner",
    "PadesSigner",
    "PassphrasePrompt",
    "RemoteBackend",
    "RemoteSigningRefused",
    "RemoteSigningService",
    "SignatureField",
    "SignedPdf",
    "SignerBackend",
    "SigningError",
    "open_backend",
    "read_passphrase",
]
