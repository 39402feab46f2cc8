"""Linux's parent-death signal: a task process is SIGKILLed when its worker thread dies."""

from __future__ import annotations

import ctypes
import functools
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHANED_EXIT = 126  # the worker died between fork and exec: the command never starts


@functools.cache
def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes the child die with the calling thread; None off Linux.

    The kernel sends the signal when the *thread* that forked exits, not the process: the
    caller must fork from a thread that outlives the child (an executor's `_run` blocks until
    its process group has ended). The function runs in the child between fork and exec, so it
    only calls what is resolved here, in the parent: no imports, no locks, no allocation.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()
    deathsig = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, deathsig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took hold
            os._exit(ORPHANED_EXIT)

    return preexec
