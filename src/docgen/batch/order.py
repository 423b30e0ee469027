"""Numbers in input order across a batch's worker processes (``docgen batch --ordered``).

Each record handed to the workers gets a ticket, 0, 1, 2, ... in input order. A worker issuing
ticket *t* checks the request as usual, then waits until every ticket before *t* has taken its
number (or ended without one) before it takes its own, and passes the turn on at once: only
taking the number is in order, while rendering and signing, the costly part, still run side by
side. The main process passes the turn for a ticket whose worker died and that is not tried
again, and hands tickets to a new pool lowest first, so no worker waits for a ticket queued
behind it.

The state lives in shared memory made before the workers start: the next ticket to number, and
a ring of the tickets passed out of turn (a record found invalid, or given up, ends before its
predecessors took their numbers). The ring holds 16 windows of tickets: it would wrap onto a
live ticket only if more than that many records ended out of turn while one record was still
checked, and then that record would wait and fail retryable (:class:`TurnTimeout`), never take
a number out of order.
"""

from __future__ import annotations

from multiprocessing.context import SpawnContext
from typing import Any

from docgen.errors import DocgenError

__all__ = ["NumberingTurn", "TurnTimeout"]


class TurnTimeout(DocgenError):
    """The records before this one did not take their numbers in time; try again."""

    exit_code = 75  # EX_TEMPFAIL
    retryable = True


class NumberingTurn:
    """Whose turn it is to take a number; share with the workers at their start."""

    def __init__(self, context: SpawnContext, window: int):
        """Shared memory for a run with ``window`` tickets in flight at most."""
        self._size = 16 * max(1, window)
        self._changed: Any = context.Condition()
        # guarded by the condition's lock, so no lock of their own
        self._next: Any = context.Value("q", 0, lock=False)
        self._passed: Any = context.Array("q", [-1] * self._size, lock=False)

    def wait(self, ticket: int, timeout: float) -> None:
        """Return when ``ticket`` may take its number; :class:`TurnTimeout` after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._next.value >= ticket, timeout):
                raise TurnTimeout(
                    f"Numbering in input order: the records before this one did not take their "
                    f"numbers within {timeout:g} s; run the batch again to issue it"
                )

    def passed(self, ticket: int) -> None:
        """``ticket`` has its number, or will take none: the next ticket's turn may come."""
        with self._changed:
            if self._next.value > ticket:
                return  # passed before (an earlier attempt at the same record)
            self._passed[ticket % self._size] = ticket
            while self._passed[self._next.value % self._size] == self._next.value:
                self._next.value += 1
            self._changed.notify_all()
