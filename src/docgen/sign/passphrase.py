"""Where a signing key's passphrase comes from: an environment variable, a file, or a person.

Never the command line, and never a message. Kept apart from the backends so that asking for
passphrases (a batch's main process does, then hands them to its workers) loads no
cryptography.

Example::

    secret = read_passphrase(settings.signing.keys["ILMATE"], prompt=ask_on_terminal)
"""

from __future__ import annotations

import os
from collections.abc import Callable

from docgen.config import KeySettings
from docgen.errors import SigningError

__all__ = ["PassphrasePrompt", "read_passphrase"]

PassphrasePrompt = Callable[[str], str]
"""Asks a person for a passphrase; the argument says which key it is for."""


def read_passphrase(settings: KeySettings, prompt: PassphrasePrompt | None = None) -> bytes | None:
    """The key's passphrase: from its environment variable, its file, or a prompt.

    Returns None when no source is configured and there is nobody to ask (an unencrypted key).
    """
    if settings.passphrase_env and os.environ.get(settings.passphrase_env):
        return os.environ[settings.passphrase_env].encode()
    if settings.passphrase_file is not None:
        try:
            lines = settings.passphrase_file.read_text("utf-8").splitlines()
        except OSError as error:
            raise SigningError(
                f"Cannot read the passphrase file {settings.passphrase_file}: {error.strerror}"
            ) from None
        return lines[0].encode() if lines else b""
    if prompt is not None:
        return prompt(str(settings.pkcs12 or settings.key)).encode()
    return None
