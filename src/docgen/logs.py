"""Logging shared by docgen's entry points (the command line, the verification site's workers).

Example::

    logging.basicConfig(level=logging.WARNING)
    quiet_libraries()
"""

from __future__ import annotations

import logging

__all__ = ["NOISY_LIBRARIES", "quiet_libraries"]

NOISY_LIBRARIES = ("pyhanko", "pyhanko_certvalidator", "fontTools", "weasyprint")
"""Libraries that log what docgen reports in words already: pyHanko logs every rejected
signature with a traceback (a B-LTA letter's first, short-term validation is one, every time),
fontTools and WeasyPrint every font subset."""


def quiet_libraries() -> None:
    """Log only the critical messages of :data:`NOISY_LIBRARIES`."""
    for name in NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.CRITICAL)
