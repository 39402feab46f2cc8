"""Signalling a process group and telling whether any of it still runs."""

from __future__ import annotations

import os
from pathlib import Path

_PROC = Path("/proc")


def signal_group(pgid: int, signum: int) -> bool:
    """Send a signal to every process of the group; False when the group is gone."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def live_group_members(pgid: int) -> list[int]:
    """Pids of the group that still run; zombies do not count.

    Orphans are reparented to PID 1, which in a container often never reaps them, and
    killpg(pgid, 0) succeeds on zombies, so on Linux /proc is read instead.
    """
    if not signal_group(pgid, 0):
        return []  # no process of the group exists, not even a zombie: no /proc scan
    if not _PROC.is_dir():
        return [pgid]
    alive = []
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            # The command name may contain spaces and parentheses: split after the last ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            alive.append(int(stat.parent.name))
    return alive
