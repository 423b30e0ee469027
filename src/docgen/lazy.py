"""Things made on first use: names a package exports, and state each process makes for itself.

WeasyPrint, docxtpl, pyHanko and LibreOffice's bridge take about 100 MB and a second to import;
a process that only validates requests or runs a batch's main loop needs none of them, so the
packages that export rendering and signing names import those names on first use
(:func:`lazy_names`).

A web application builds its Issuer once and may then fork worker processes. Threads, locks held
by other threads, thread pools, connections and sessions do not survive a fork in a usable
state, so what must be one per process is a :class:`PerProcess`: made on first use in each
process, the parent's never touched by the child.

Example::

    __getattr__ = lazy_names(__name__, {"Issuer": "docgen.pipeline"})
    _pool = PerProcess(lambda: ThreadPoolExecutor(max_workers=1))
    _pool.get().submit(work)          # a forked child gets a pool of its own
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

__all__ = ["PerProcess", "lazy_names"]

T = TypeVar("T")


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


class PerProcess(Generic[T]):
    """A value made by ``factory`` on first use in each process; safe between threads.

    A forked child that asks for the value gets one of its own, made in the child. What it
    inherited from its parent is kept as it is and never used or released: releasing a copy of
    the parent's connection or temporary folder in the child (by a destructor, say) would close
    or remove the parent's. No lock is shared with the parent either: one that another of the
    parent's threads held at the fork would stay locked in the child forever.
    """

    def __init__(self, factory: Callable[[], T]):
        """Make nothing yet; ``factory`` runs once per process, on first use there."""
        self._factory = factory
        self._values: dict[int, T] = {}
        self._locks: dict[int, threading.Lock] = {}

    def get(self) -> T:
        """The value of the calling process, made now if it has none."""
        pid = os.getpid()
        if pid in self._values:
            return self._values[pid]
        # setdefault is atomic: two threads of a new process agree on one lock
        with self._locks.setdefault(pid, threading.Lock()):
            if pid not in self._values:
                self._values[pid] = self._factory()
            return self._values[pid]

    def peek(self) -> T | None:
        """The value of the calling process, or None if it has none yet (nothing is made)."""
        return self._values.get(os.getpid())

    def discard(self) -> T | None:
        """Forget this process's value and return it (the next :meth:`get` makes a new one)."""
        return self._values.pop(os.getpid(), None)
