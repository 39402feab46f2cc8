"""The in-process bus of the embedded mode: queues in memory, a doorbell for the dispatcher."""

from __future__ import annotations

import itertools
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from application.bus import Received
from application.messages import Control, Delivery, Heartbeat, Report
from application.ports import Wakeup

LOGS_MAXLEN = 10_000  # shipped log lines waiting to be taken


class InMemoryBus:
    """Inboxes per worker, one report queue with acks, heartbeats fanned out to listeners."""

    def __init__(self, reports_wakeup: Wakeup | None = None) -> None:
        self._inboxes: defaultdict[UUID, queue.Queue[Delivery | Control]] = defaultdict(queue.Queue)
        self._reports: queue.Queue[tuple[str, Report]] = queue.Queue()
        self._unacked: dict[str, Report] = {}
        self._tokens = itertools.count(1)
        self._listeners: list[_MemoryHeartbeatListener] = []
        self._reports_wakeup = reports_wakeup
        self._lock = threading.Lock()
        self._logs: deque[dict[str, Any]] = deque(maxlen=LOGS_MAXLEN)

    def publish_delivery(self, delivery: Delivery) -> None:
        """Queue a delivery for its worker."""
        self._inbox(delivery.worker_id).put(delivery)

    def publish_control(self, control: Control) -> None:
        """Queue a control message for its worker."""
        self._inbox(control.worker_id).put(control)

    def publish_inbox_messages(self, messages: Sequence[Delivery | Control]) -> None:
        """Queue each message for its worker."""
        for message in messages:
            self._inbox(message.worker_id).put(message)

    def receive_inbox(
        self, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery | Control]:
        """Take up to `max_count` messages, waiting up to `timeout` for the first."""
        return _drain(self._inbox(worker_id), max_count, timeout)

    def drop_inbox(self, worker_id: UUID) -> None:
        """Forget a gone worker's inbox."""
        with self._lock:
            self._inboxes.pop(worker_id, None)

    def publish_report(self, report: Report) -> None:
        """Queue a report and wake the dispatcher."""
        self._reports.put((str(next(self._tokens)), report))
        if self._reports_wakeup is not None:
            self._reports_wakeup.ring()

    def publish_reports(self, reports: Sequence[Report]) -> None:
        """Queue the reports and wake the dispatcher once."""
        for report in reports:
            self._reports.put((str(next(self._tokens)), report))
        if reports and self._reports_wakeup is not None:
            self._reports_wakeup.ring()

    def receive_reports(
        self, consumer: str, max_count: int, timeout: float
    ) -> list[Received[Report]]:
        """Take reports; each stays unacknowledged until ack_reports."""
        items = _drain(self._reports, max_count, timeout)
        with self._lock:
            self._unacked.update(items)
        return [Received(report, token) for token, report in items]

    def ack_reports(self, tokens: list[str]) -> None:
        """Forget recorded reports."""
        with self._lock:
            for token in tokens:
                self._unacked.pop(token, None)

    def publish_heartbeat(self, heartbeat: Heartbeat) -> None:
        """Hand the heartbeat to every listener."""
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener.queue.put(heartbeat)

    def heartbeat_listener(self) -> _MemoryHeartbeatListener:
        """Subscribe to heartbeats from now on."""
        listener = _MemoryHeartbeatListener(self)
        with self._lock:
            self._listeners.append(listener)
        return listener

    def publish_logs(self, lines: Sequence[dict[str, Any]]) -> None:
        """Keep log lines for take_logs (the oldest go past LOGS_MAXLEN)."""
        with self._lock:
            self._logs.extend(lines)

    def take_logs(self, max_count: int) -> list[dict[str, Any]]:
        """Take up to `max_count` log lines, oldest first."""
        with self._lock:
            return [self._logs.popleft() for _ in range(min(max_count, len(self._logs)))]

    def ping(self) -> None:
        """Memory is always reachable."""

    def close(self) -> None:
        """Nothing to release in memory."""

    def _inbox(self, worker_id: UUID) -> queue.Queue[Delivery | Control]:
        with self._lock:
            return self._inboxes[worker_id]

    def _unsubscribe(self, listener: _MemoryHeartbeatListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)


class _MemoryHeartbeatListener:
    def __init__(self, bus: InMemoryBus) -> None:
        self.queue: queue.Queue[Heartbeat] = queue.Queue()
        self._bus = bus

    def receive(self, max_count: int, timeout: float) -> list[Heartbeat]:
        return _drain(self.queue, max_count, timeout)

    def close(self) -> None:
        self._bus._unsubscribe(self)


def _drain(inbox: queue.Queue[Any], max_count: int, timeout: float) -> list[Any]:
    items: list[Any] = []
    if max_count <= 0:
        return items
    try:
        items.append(inbox.get(timeout=timeout) if timeout > 0 else inbox.get_nowait())
    except queue.Empty:
        return items
    while len(items) < max_count:
        try:
            items.append(inbox.get_nowait())
        except queue.Empty:
            break
    return items
