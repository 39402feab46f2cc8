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

    def listened(self, through: datetime) -> None: ...

    def heard_through(self) -> datetime | None: ...


class InMemoryLiveness:
    """Leases in this process's memory, fed by a heartbeat listener."""

    def __init__(self) -> None:
        self._leases: dict[UUID, Lease] = {}
        self._heard_through: datetime | None = None
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

    def listened(self, through: datetime) -> None:
        """Every heartbeat sent before `through` has been fed in."""
        with self._lock:
            if self._heard_through is None or through > self._heard_through:
                self._heard_through = through

    def heard_through(self) -> datetime | None:
        """Up to when the heartbeats are all in; None if no collector has said (tests, tools)."""
        with self._lock:
            return self._heard_through


class Leases:
    """Workers' leases as one dispatcher judges them, from the heartbeats it has seen.

    Before this dispatcher has heard anything, its own start is a worker's last sign of life.
    Silence counts only up to when the heartbeats were all heard: a dispatcher whose collector
    stalled (CPU starvation, a long pause, a bus it cannot reach) must not take its own deafness
    for every worker's death and requeue runs that are running fine.
    """

    def __init__(self, store: LivenessStore, clock: Clock, lease_seconds: float) -> None:
        self.store = store
        self._clock = clock
        self._since = clock.now()
        self._lease = timedelta(seconds=lease_seconds)

    def expired(self, worker_id: UUID) -> bool:
        """Whether the worker's last heartbeat is older than the lease."""
        seen = max(self.store.last_seen(worker_id) or self._since, self._since)
        now = self._clock.now()
        heard = self.store.heard_through()
        return (now if heard is None else min(now, heard)) - seen > self._lease


HEARTBEATS_PER_READ = 500


def collect_heartbeats(
    bus: Any, liveness: LivenessStore, clock: Any, stop: threading.Event
) -> None:
    """Feed every heartbeat on the bus into the liveness store until stopped."""
    listener = None
    while not stop.is_set():
        try:
            if listener is None:
                listener = bus.heartbeat_listener()
            asked_at = clock.now()
            beats = listener.receive(HEARTBEATS_PER_READ, timeout=0.5)
            for beat in beats:
                liveness.beat(beat.worker_id, clock.now(), beat.running, beat.draining)
            if len(beats) < HEARTBEATS_PER_READ:  # drained: all sent before asking are in
                liveness.listened(asked_at)
        except Exception:  # the bus is down: no lease is judged until it is heard again
            logger.warning("cannot receive heartbeats; retrying", exc_info=True)
            listener = None
            stop.wait(1.0)
    if listener is not None:
        listener.close()
