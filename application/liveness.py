"""Worker liveness: heartbeats renew a lease kept outside the log (they are not events)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Protocol
from uuid import UUID


class LivenessStore(Protocol):
    """Where heartbeats land."""

    def beat(self, worker_id: UUID, at: datetime, running: int) -> None: ...

    def last_seen(self, worker_id: UUID) -> datetime | None: ...

    def snapshot(self) -> dict[UUID, tuple[datetime, int]]: ...


class InMemoryLiveness:
    """Leases in this process's memory (embedded mode and tests)."""

    def __init__(self) -> None:
        self._beats: dict[UUID, tuple[datetime, int]] = {}
        self._lock = threading.Lock()

    def beat(self, worker_id: UUID, at: datetime, running: int) -> None:
        """Record a heartbeat with the worker's own count of running attempts."""
        with self._lock:
            self._beats[worker_id] = (at, running)

    def last_seen(self, worker_id: UUID) -> datetime | None:
        """When the worker last beat, if ever."""
        with self._lock:
            beat = self._beats.get(worker_id)
        return beat[0] if beat else None

    def snapshot(self) -> dict[UUID, tuple[datetime, int]]:
        """Every worker's last beat and reported load."""
        with self._lock:
            return dict(self._beats)
