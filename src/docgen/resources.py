"""A base for objects that hold processes or connections and must be closed.

Example::

    with Issuer(settings) as issuer:    # closed at the end of the block
        ...
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing:
    """Usable in a ``with`` statement; :meth:`close` runs at the end of the block."""

    def close(self) -> None:
        """Release what the object holds (subclasses override)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
