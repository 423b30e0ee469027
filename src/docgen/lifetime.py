"""A child process's life tied to its parent's, even when the parent is killed with SIGKILL.

Example::

    subprocess.Popen(command, preexec_fn=die_with_parent)   # in the child, before it runs
"""

from __future__ import annotations

import contextlib
import ctypes
import signal

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1


def die_with_parent(sent: signal.Signals = signal.SIGKILL) -> None:
    """In the calling (child) process: have Linux send it ``sent`` when its parent ends.

    Linux sends it when the *thread* that started the child ends, not its process: start
    children from a thread that lives as long as the process. Elsewhere this does nothing.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sent)
