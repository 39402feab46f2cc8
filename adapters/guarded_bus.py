"""A bus behind a circuit breaker: a bus that is down is not hammered by every thread."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from application.bus import Bus, HeartbeatListener, Received
from application.circuit_breaker import CircuitBreaker
from application.messages import Control, Delivery, Heartbeat, Report


class GuardedBus:
    """The Bus port: every call that reaches the broker goes through one breaker.

    Failures open it, successes close it. Subscribing to heartbeats and closing only touch
    local state and are not guarded.
    """

    def __init__(self, bus: Bus, breaker: CircuitBreaker) -> None:
        self._bus = bus
        self.breaker = breaker

    def publish_delivery(self, delivery: Delivery) -> None:
        """Queue an attempt in its worker's inbox."""
        self.breaker.call(self._bus.publish_delivery, delivery)

    def publish_control(self, control: Control) -> None:
        """Queue a control message in its worker's inbox."""
        self.breaker.call(self._bus.publish_control, control)

    def publish_inbox_messages(self, messages: Sequence[Delivery | Control]) -> None:
        """Queue messages in their workers' inboxes."""
        self.breaker.call(self._bus.publish_inbox_messages, messages)

    def receive_inbox(
        self, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery | Control]:
        """Take the worker's next messages."""
        return self.breaker.call(self._bus.receive_inbox, worker_id, max_count, timeout)

    def drop_inbox(self, worker_id: UUID) -> None:
        """Forget a worker's inbox once the worker is gone."""
        self.breaker.call(self._bus.drop_inbox, worker_id)

    def publish_report(self, report: Report) -> None:
        """Send a report to the dispatchers."""
        self.breaker.call(self._bus.publish_report, report)

    def publish_reports(self, reports: Sequence[Report]) -> None:
        """Send several reports to the dispatchers."""
        self.breaker.call(self._bus.publish_reports, reports)

    def receive_reports(
        self, consumer: str, max_count: int, timeout: float
    ) -> list[Received[Report]]:
        """Take reports for this dispatcher."""
        return self.breaker.call(self._bus.receive_reports, consumer, max_count, timeout)

    def ack_reports(self, tokens: list[str]) -> None:
        """Acknowledge reports that are now recorded."""
        self.breaker.call(self._bus.ack_reports, tokens)

    def publish_heartbeat(self, heartbeat: Heartbeat) -> None:
        """Broadcast a heartbeat to every listener."""
        self.breaker.call(self._bus.publish_heartbeat, heartbeat)

    def heartbeat_listener(self) -> HeartbeatListener:
        """A new subscription to the heartbeat broadcast (not guarded)."""
        return self._bus.heartbeat_listener()

    def ping(self) -> None:
        """Raise if the bus cannot be reached."""
        self.breaker.call(self._bus.ping)

    def close(self) -> None:
        """Release connections (not guarded)."""
        self._bus.close()
