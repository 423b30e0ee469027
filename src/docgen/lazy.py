"""Names a package exports but imports only when first used.

WeasyPrint, docxtpl, pyHanko and LibreOffice's bridge take about 100 MB and a second to import;
a process that only validates requests or runs a batch's main loop needs none of them, so the
packages that export rendering and signing names import those names on first use.

Example::

    __getattr__ = lazy_names(__name__, {"Issuer": "docgen.pipeline"})
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_names"]


def lazy_names(package: str, names: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` importing each of ``names`` from its module on first use."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value  # later uses find it without coming here
        return value

    return __getattr__
