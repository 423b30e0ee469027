"""Signing: signer backends (where keys live) and the PAdES step (what a signature looks like).

A remote signing service (the national CA keeps the key) fits the same place:
:class:`RemoteBackend` (see :mod:`docgen.sign.remote`).

Example::

    backend = open_backend(settings.signing.keys["AGRO"])
    signed = PadesSigner(settings).sign(pdf, backend, request.signatory, url)
"""

import importlib
from typing import TYPE_CHECKING, Any

from docgen.errors import SigningError
from docgen.sign.backends import (
    LocalKeySigner,
    PassphrasePrompt,
    SignerBackend,
    open_backend,
    read_passphrase,
)

if TYPE_CHECKING:
    from docgen.sign.pades import QR_ANCHOR, SIGNATURE_ANCHOR, PadesSigner, SignedPdf
    from docgen.sign.remote import (
        RemoteBackend,
        RemoteSigningRefused,
        RemoteSigningService,
        SignatureField,
    )

# The PAdES step lays out the visible signature with WeasyPrint: imported on first use, so
# that opening a key (a batch's main process checks every passphrase) does not load it.
_LAZY = {
    "QR_ANCHOR": "docgen.sign.pades",
    "SIGNATURE_ANCHOR": "docgen.sign.pades",
    "PadesSigner": "docgen.sign.pades",
    "SignedPdf": "docgen.sign.pades",
    "RemoteBackend": "docgen.sign.remote",
    "RemoteSigningRefused": "docgen.sign.remote",
    "RemoteSigningService": "docgen.sign.remote",
    "SignatureField": "docgen.sign.remote",
}


def __getattr__(name: str) -> Any:
    """Import the PAdES and remote-signing names on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'docgen.sign' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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
