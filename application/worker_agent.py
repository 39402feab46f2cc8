"""The worker: takes deliveries from the bus, runs them, reports back; holds no database."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from application.bus import Bus
from application.messages import Delivery, Report

logger = logging.getLogger(__name__)

SEEN_DELIVERIES = 10_000  # enough to absorb redeliveries; older ones are long finished


@dataclass(frozen=True)
class WorkerProfile:
    """What a worker says about itself when it registers."""

    name: str
    hostname: str
    executors: list[str]
    queues: list[str] = field(default_factory=lambda: ["default"])
    labels: dict[str, str] = field(default_factory=dict)
    max_concurrent_tasks: int = 5


class Membership(Protocol):
    """How a worker joins, keeps its lease and leaves."""

    def register(self, profile: WorkerProfile) -> UUID: ...

    def heartbeat(self, worker_id: UUID, running: int) -> None: ...

    def deregister(self, worker_id: UUID, reason: str) -> None: ...


class RunExecutor(Protocol):
    """Runs one attempt (adapters.executors provides the real ones)."""

    def execute(self, delivery: Delivery, on_started: Callable[[int], None]) -> Any: ...

    def cancel_all(self) -> int: ...


class WorkerAgent:
    """Runs at most `max_concurrent_tasks` attempts at once, each exactly once per attempt."""

    def __init__(
        self,
        profile: WorkerProfile,
        bus: Bus,
        membership: Membership,
        run_executor: RunExecutor,
        *,
        heartbeat_interval: float = 5.0,
        poll_interval: float = 0.5,
    ) -> None:
        self.profile = profile
        self._bus = bus
        self._membership = membership
        self._run = run_executor
        self._heartbeat_interval = heartbeat_interval
        self._poll = poll_interval
        self._pool = ThreadPoolExecutor(
            max_workers=profile.max_concurrent_tasks, thread_name_prefix="run"
        )
        self._lock = threading.Lock()
        self._running = 0
        self._seen: OrderedDict[tuple[UUID, int], None] = OrderedDict()
        self.worker_id: UUID | None = None

    @property
    def running(self) -> int:
        """How many attempts are executing now."""
        with self._lock:
            return self._running

    def start(self) -> UUID:
        """Register and send the first heartbeat."""
        self.worker_id = self._membership.register(self.profile)
        self._membership.heartbeat(self.worker_id, 0)
        return self.worker_id

    def run_forever(self, stop: threading.Event, grace_seconds: float = 30.0) -> None:
        """Take and run deliveries until stopped, then finish what runs and deregister."""
        worker_id = self.worker_id or self.start()
        beating = threading.Thread(
            target=self._beat_until, args=(stop,), name="heartbeat", daemon=True
        )
        beating.start()
        while not stop.is_set():
            free = self.profile.max_concurrent_tasks - self.running
            if free <= 0:
                stop.wait(0.05)
                continue
            for delivery in self._bus.receive_deliveries(worker_id, free, timeout=self._poll):
                self._accept(delivery)
        self._finish_or_cancel(grace_seconds)
        self._membership.deregister(worker_id, "stopped")

    def _finish_or_cancel(self, grace_seconds: float) -> None:
        # Drain: take nothing new, let running attempts end within the grace period,
        # then kill what is left so no child process outlives its worker.
        self._pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + grace_seconds
        while self.running and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.running:
            cancelled = self._run.cancel_all()
            logger.warning("cancelled %d running attempts at shutdown", cancelled)
        self._pool.shutdown(wait=True)

    def _beat_until(self, stop: threading.Event) -> None:
        assert self.worker_id is not None
        while not stop.wait(self._heartbeat_interval):
            try:
                self._membership.heartbeat(self.worker_id, self.running)
            except Exception:  # a missed beat only shortens the lease; keep beating
                logger.exception("heartbeat failed")

    def _accept(self, delivery: Delivery) -> None:
        key = (delivery.run_id, delivery.attempt)
        with self._lock:
            if key in self._seen:
                return  # a redelivery of an attempt already taken: run it at most once
            self._seen[key] = None
            while len(self._seen) > SEEN_DELIVERIES:
                self._seen.popitem(last=False)
            self._running += 1
        self._pool.submit(self._execute, delivery)

    def _execute(self, delivery: Delivery) -> None:
        try:
            self._run_and_report(delivery)
        except Exception as error:  # report the failure rather than lose the run
            logger.exception("execution crashed", extra={"run_id": str(delivery.run_id)})
            self._report(delivery, "failed", error=f"worker error: {error}")
        finally:
            with self._lock:
                self._running -= 1

    def _run_and_report(self, delivery: Delivery) -> None:
        started = threading.Event()

        def on_started(pid: int) -> None:
            started.set()
            self._report(delivery, "started", pid=pid)

        result = self._run.execute(delivery, on_started)
        if not started.is_set():
            self._report(delivery, "started", pid=None)
        self._report(
            delivery,
            "succeeded" if result.succeeded else "failed",
            exit_code=result.exit_code,
            error=None if result.succeeded else result.error,
            duration_seconds=result.duration_seconds,
            output=result.output,
        )

    def _report(self, delivery: Delivery, kind: Any, **fields: Any) -> None:
        assert self.worker_id is not None
        self._bus.publish_report(
            Report(
                kind=kind,
                run_id=delivery.run_id,
                attempt=delivery.attempt,
                worker_id=self.worker_id,
                **fields,
            )
        )
