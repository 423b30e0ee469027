"""Refreshing archived letters: new validation data and a new document timestamp.

A B-LTA letter stays verifiable as long as its newest document timestamp can be validated. An
archive refreshes its letters before that timestamp's certificate expires (or its algorithms
weaken): the validation data for the newest timestamp is added to the document security store
and a new document timestamp is laid over everything, in an incremental update. The signed
letter itself is untouched, so the register still recognises it.

Example::

    archiver = Archiver(settings)
    refreshed = archiver.refresh(Path("letter.pdf").read_bytes())
"""

from __future__ import annotations

import io

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers import PdfTimeStamper

from docgen.config import Settings
from docgen.errors import ConfigError, SigningError
from docgen.sign.services import TrustServices
from docgen.verify.verifier import Verifier

__all__ = ["Archiver"]


class Archiver:
    """Adds validation data and a document timestamp to B-LTA letters; build once, reuse."""

    def __init__(self, settings: Settings, *, verifier: Verifier | None = None):
        """Use the settings' timestamping authority and trust roots.

        ``verifier`` decides which letters may be refreshed; by default one built from the
        settings (their trust roots and register).
        """
        self._verifier = verifier or Verifier.from_settings(settings)
        self._services = TrustServices(settings)
        if not self._services.timestamps:
            raise ConfigError(
                "Refreshing archived letters needs a timestamping authority (signing.timestamp_url)"
            )

    def refresh(self, pdf: bytes) -> bytes:
        """The letter with new validation data and a new document timestamp appended.

        :class:`SigningError` when the letter does not verify (a letter whose validity period
        has ended is refreshed all the same): nothing is added to it then.
        """
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            if not reader.embedded_timestamp_signatures:
                raise SigningError(
                    "This letter has no document timestamp (it is not B-LTA); "
                    "there is no timestamp chain to extend"
                )
        except PdfError as error:
            raise SigningError(f"Not a readable PDF: {error}") from None
        report = self._verifier.verify(pdf)
        # a letter past its validity period is still genuine, and its archive is still kept
        failed = [check for check in report.checks if not check.passed]
        if not report.checks or any(check.name != "validity" for check in failed):
            reasons = "; ".join(report.reasons) or report.verdict.value
            raise SigningError(f"This letter does not verify, so it is not refreshed: {reasons}")

        def extend() -> bytes:
            stamper = PdfTimeStamper(self._services.timestamper())  # per refresh, per thread
            out = stamper.update_archival_timestamp_chain(
                PdfFileReader(io.BytesIO(pdf), strict=False),
                self._services.validation_context(),
                in_place=False,
            )
            data: bytes = out.getvalue()
            return data

        return self._services.with_retries(
            extend, "Could not refresh the letter", "the file was left unchanged"
        )
