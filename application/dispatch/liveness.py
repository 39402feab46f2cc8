"""Worker liveness: heartbeats renew a lease kept outside the log (they are not events)."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from application.ports import Clock

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Lease:
    """A worker's last heartbeat: when, and which attempts it said it was running."""

    at: datetime
    running: tuple[tuple[UUID, int], ...] = ()
    draining: bool = False


class LivenessStore(Protocol):
    """Where heartbeats land."""

    def beat(
        self,
        worker_id: UUID,
        at: datetime,
        running: tuple[tuple[UUID, int], ...] = (),
        draining: bool = False,
    ) -> None: ...

    def last_seen(self, worker_id: UUID) -> datetime | None: ...

    def snapshot(self) -> dict[UUID, Lease]: ...


class InMemoryLiveness:
    """Leases in this process's memory, fed by a heartbeat listener."""

    def __init__(self) -> None:
        self._leases: dict[UUID, Lease] = {}
        self._lock = threading.Lock()

    def beat(
        self,
        worker_id: UUID,
        at: datetime,
        running: tuple[tuple[UUID, int], ...] = (),
        draining: bool = False,
    ) -> None:
        """Renew a worker's lease."""
        with self._lock:
            self._leases[worker_id] = Lease(at, tuple(running), draining)

    def last_seen(self, worker_id: UUID) -> datetime | None:
        """When the worker last beat, if ever."""
        with self._lock:
            lease = self._leases.get(worker_id)
        return lease.at if lease else None

    def snapshot(self) -> dict[UUID, Lease]:
        """Every worker's last lease."""
        with self._lock:
            return dict(self._leases)


class Leases:
    """Workers' leases as one dispatcher judges them, from the heartbeats it has seen.

    Before this dispatcher has heard anything, its own start is a worker's last sign of life.
    """

    def __init__(self, store: LivenessStore, clock: Clock, lease_seconds: float) -> None:
        self.store = store
        self._clock = clock
        self._since = clock.now()
        self._lease = timedelta(seconds=lease_seconds)

    def expired(self, worker_id: UUID) -> bool:
        """Whether the worker's last heartbeat is older than the lease."""
        seen = max(self.store.last_seen(worker_id) or self._since, self._since)
        return self._clock.now() - seen > self._lease


def collect_heartbeats(
    bus: Any, liveness: LivenessStore, clock: Any, stop: threading.Event
) -> None:
    """Feed every heartbeat on the bus into the liveness store until stopped."""
    listener = None
    while not stop.is_set():
        try:
            if listener is None:
                listener = bus.heartbeat_listener()
            for beat in listener.receive(500, timeout=0.5):
                liveness.beat(beat.worker_id, clock.now(), beat.running, beat.draining)
        except Exception:  # the bus is down: leases age, recovery waits for the lease
            logger.warning("cannot receive heartbeats; retrying", exc_info=True)
            listener = None
            stop.wait(1.0)
    if listener is not None:
        listener.close()
