"""The worker's record of its task process groups, and the guard that reaps them if it dies."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from adapters.executors import orphan_guard

logger = logging.getLogger(__name__)


def default_directory() -> Path:
    """Per user and per boot, like the processes it lists: <tmp>/scheduler-<uid>/task-groups."""
    return Path(tempfile.gettempdir()) / f"scheduler-{os.getuid()}" / "task-groups"


class TaskGroupLedger:
    """Keeps `<directory>/<worker pid>.json` listing the live task groups of this worker.

    `open()` first kills what dead workers left (their files), then starts the guard: a
    separate process that kills the groups still listed once this process is gone.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or default_directory()
        pid = os.getpid()
        self.path = self.directory / f"{pid}.json"
        self._owner = {"pid": pid, "start": orphan_guard.process_start(pid)}
        self._groups: dict[int, int | None] = {}  # pgid -> its leader's start time
        self._lock = threading.Lock()
        self._guard: subprocess.Popen[bytes] | None = None

    def open(self) -> dict[int, list[int]]:
        """Reap dead workers' groups, record this worker, start its guard; returns the reaped."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        reaped = orphan_guard.sweep(self.directory)
        for pid, groups in reaped.items():
            if groups:
                logger.warning(
                    "killed %d task process groups left by dead worker process %s: %s",
                    len(groups),
                    pid,
                    groups,
                )
        with self._lock:
            self._write()
        self._guard = subprocess.Popen(
            [sys.executable, "-I", orphan_guard.__file__, str(self.path)],
            stdin=subprocess.PIPE,
            start_new_session=True,  # a signal to the worker's group must not reach it
        )
        return reaped

    @property
    def guard_pid(self) -> int | None:
        """The guard process's pid, once open."""
        return self._guard.pid if self._guard else None

    def add(self, pgid: int) -> None:
        """Record a task group that just started."""
        with self._lock:
            self._groups[pgid] = orphan_guard.process_start(pgid)
            self._write()

    def discard(self, pgid: int) -> None:
        """Forget a task group that has ended."""
        with self._lock:
            self._groups.pop(pgid, None)
            self._write()

    def close(self) -> None:
        """Stop the guard (it reaps what is still listed) and remove the file."""
        guard, self._guard = self._guard, None
        if guard is not None:
            assert guard.stdin is not None
            guard.stdin.close()  # the guard sees the end of its pipe, as if we had died
            try:
                guard.wait(5)
            except subprocess.TimeoutExpired:
                guard.kill()
                guard.wait()
        orphan_guard.reap(self.path)

    def _write(self) -> None:
        # Replaced whole, never half written: a reader sees the old list or the new one.
        state = {"owner": self._owner, "groups": sorted(self._groups.items())}
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        with os.fdopen(fd, "w") as file:
            json.dump(state, file)
        os.replace(temporary, self.path)
