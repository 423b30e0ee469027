"""Verification: whether a letter is genuine, unchanged, issued and not revoked.

:class:`Verifier` does the checks (see :mod:`docgen.verify.verifier` for the list). Beside
pyHanko's validation, a strict reader of docgen's own reads every revision after the signed one
from the raw bytes (:mod:`~docgen.verify.pdfsyntax`, :mod:`~docgen.verify.revisions`) and holds
it to what may follow an issued letter's signature (:mod:`~docgen.verify.updates`): validation
data and document timestamps, nothing else. :class:`IsolatedVerifier` runs verification in a
separate process with a time and memory budget per file, for files from untrusted hands.

Example::

    from docgen.verify import Verifier
    report = Verifier.from_settings(settings).verify_file(Path("letter.pdf"))
"""

from typing import TYPE_CHECKING

from docgen.lazy import lazy_names

if TYPE_CHECKING:
    from docgen.verify.isolated import IsolatedVerifier
    from docgen.verify.verifier import Verifier

# pyHanko's validation is imported on first use: a process that hands files to an
# IsolatedVerifier's worker, or only reads them, does not need it
__getattr__ = lazy_names(
    __name__, {"IsolatedVerifier": "docgen.verify.isolated", "Verifier": "docgen.verify.verifier"}
)

__all__ = ["IsolatedVerifier", "Verifier"]
