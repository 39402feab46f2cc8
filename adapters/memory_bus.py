"""The in-process bus of the embedded mode: queues in memory, a doorbell for the dispatcher."""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from typing import Any
from uuid import UUID

from application.messages import Delivery, Report
from application.ports import Wakeup


class InMemoryBus:
    """Deliveries per worker and one report queue, all in this process."""

    def __init__(self, reports_wakeup: Wakeup | None = None) -> None:
        self._deliveries: defaultdict[UUID, queue.Queue[Delivery]] = defaultdict(queue.Queue)
        self._reports: queue.Queue[Report] = queue.Queue()
        self._reports_wakeup = reports_wakeup
        self._lock = threading.Lock()

    def publish_delivery(self, delivery: Delivery) -> None:
        """Queue a delivery for its worker."""
        with self._lock:
            inbox = self._deliveries[delivery.worker_id]
        inbox.put(delivery)

    def receive_deliveries(self, worker_id: UUID, max_count: int, timeout: float) -> list[Delivery]:
        """Take up to `max_count` deliveries, waiting up to `timeout` for the first."""
        with self._lock:
            inbox = self._deliveries[worker_id]
        return _drain(inbox, max_count, timeout)

    def publish_report(self, report: Report) -> None:
        """Queue a report and wake the dispatcher."""
        self._reports.put(report)
        if self._reports_wakeup is not None:
            self._reports_wakeup.ring()

    def receive_reports(self, max_count: int, timeout: float) -> list[Report]:
        """Take up to `max_count` reports, waiting up to `timeout` for the first."""
        return _drain(self._reports, max_count, timeout)

    def close(self) -> None:
        """Nothing to release in memory."""


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
