"""Signing: signer backends (where keys live) and the PAdES step (what a signature looks like).

A remote signing service (the national CA keeps the key) fits the same place:
:class:`RemoteBackend` (see :mod:`docgen.sign.remote`).

Example::

    backend = open_backend(settings.signing.keys["AGRO"])
    signed = PadesSigner(settings).sign(pdf, backend, request.signatory, url)
"""

from typing import TYPE_CHECKING

from docgen.errors import SigningError
from docgen.lazy import lazy_names
from docgen.sign.passphrase import PassphrasePrompt, read_passphrase

if TYPE_CHECKING:
    from docgen.sign.backends import LocalKeySigner, SignerBackend, open_backend
    from docgen.sign.pades import QR_ANCHOR, SIGNATURE_ANCHOR, PadesSigner, SignedPdf
    from docgen.sign.remote import (
        RemoteBackend,
        RemoteSigningRefused,
        RemoteSigningService,
        SignatureField,
    )

# pyHanko, cryptography and (for the visible signature) WeasyPrint are imported on first use,
# so that a process that only asks for passphrases (a batch's main process) stays small.
_LAZY = {
    "LocalKeySigner": "docgen.sign.backends",
    "SignerBackend": "docgen.sign.backends",
    "open_backend": "docgen.sign.backends",
    "QR_ANCHOR": "docgen.sign.pades",
    "SIGNATURE_ANCHOR": "docgen.sign.pades",
    "PadesSigner": "docgen.sign.pades",
    "SignedPdf": "docgen.sign.pades",
    "RemoteBackend": "docgen.sign.remote",
    "RemoteSigningRefused": "docgen.sign.remote",
    "RemoteSigningService": "docgen.sign.remote",
    "SignatureField": "docgen.sign.remote",
}


__getattr__ = lazy_names(__name__, _LAZY)


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
