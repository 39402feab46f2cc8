"""Kills the task process groups a dead worker left; also run alone as the worker's guard.

A worker records the process group of every task it runs in a small state file. Its guard
(this file run as a script, in a session of its own, reading a pipe from the worker) waits for
that pipe to close, which the kernel does when the worker exits however it exits, even by
SIGKILL; it then kills every group still recorded, so no task process outlives its worker and
a recovered run never runs twice at once. A worker starting up does the same for the files of
workers that died without their guard.

Only the standard library: run as a script, this file imports nothing of the project.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

_PROC = Path("/proc")


def process_start(pid: int) -> int | None:
    """When a process started (clock ticks since boot), to tell it from a reused pid."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ")".
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[19])  # field 22 of stat(5), counted after the name and state


def is_alive(pid: int, started: int | None) -> bool:
    """Whether the process that had this pid (and start time, when known) still runs."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by someone else
    now = process_start(pid)
    return started is None or now is None or now == started


def kill_group(pgid: int, leader_start: int | None) -> bool:
    """SIGKILL a recorded task group, unless its pid now belongs to an unrelated process."""
    now = process_start(pgid)
    if now is not None and leader_start is not None and now != leader_start:
        # A new process holds the leader's pid, so it leads a new group of that id: ours,
        # with its leader gone, cannot still hold the id (Linux never reuses a live pgid).
        return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def read_state(path: Path) -> dict[str, Any] | None:
    """A worker's state file, or None when it is gone or unreadable."""
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def reap(path: Path) -> list[int]:
    """Kill every group recorded in a state file and remove the file; returns the killed."""
    state = read_state(path) or {}
    killed = [
        int(pgid)
        for pgid, leader_start in state.get("groups", [])
        if kill_group(int(pgid), leader_start)
    ]
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return killed


def sweep(directory: Path) -> dict[int, list[int]]:
    """Reap the state files of workers no longer alive: {dead worker pid: groups killed}."""
    reaped: dict[int, list[int]] = {}
    for path in sorted(directory.glob("*.json")):
        state = read_state(path)
        owner = state.get("owner") if state else None
        if isinstance(owner, dict) and is_alive(int(owner["pid"]), owner.get("start")):
            continue
        reaped[int(owner["pid"]) if isinstance(owner, dict) else -1] = reap(path)
    return reaped


def main(argv: list[str]) -> int:
    """Wait for the worker's pipe (stdin) to close, then reap its state file."""
    # Signals meant for the worker's terminal or service must not stop the guard first.
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    killed = reap(Path(argv[0]))
    if killed:
        print(f"orphan guard: worker gone, killed task groups {killed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
