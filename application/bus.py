"""The bus port: deliveries to workers, reports and heartbeats back. Never the record.

Delivery is at least once. Reports are acknowledged only after they are recorded, and
workers resend final reports until the dispatcher confirms them, so losing the whole bus
(a Redis FLUSHALL) loses nothing that the event store cannot re-derive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from uuid import UUID

from application.messages import Control, Delivery, Heartbeat, Report

T = TypeVar("T")


@dataclass(frozen=True)
class Received(Generic[T]):
    """A message with the token that acknowledges it."""

    message: T
    token: str


class Bus(Protocol):
    """Transport between dispatchers, workers and API processes."""

    def publish_delivery(self, delivery: Delivery) -> None:
        """Queue an attempt in its worker's inbox."""
        ...

    def publish_control(self, control: Control) -> None:
        """Queue a control message in its worker's inbox."""
        ...

    def publish_inbox_messages(self, messages: Sequence[Delivery | Control]) -> None:
        """Queue deliveries and controls, each in its worker's inbox, in one round trip
        where the broker allows (order kept per inbox)."""
        ...

    def receive_inbox(
        self, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery | Control]:
        """Take the worker's next messages (the worker deduplicates)."""
        ...

    def drop_inbox(self, worker_id: UUID) -> None:
        """Forget a worker's inbox once the worker is gone."""
        ...

    def publish_report(self, report: Report) -> None:
        """Send a report to the dispatchers (one of them records it)."""
        ...

    def publish_reports(self, reports: Sequence[Report]) -> None:
        """Send several reports, in order, in one round trip where the broker allows."""
        ...

    def receive_reports(
        self, consumer: str, max_count: int, timeout: float
    ) -> list[Received[Report]]:
        """Take reports for this dispatcher, including ones a dead consumer left pending."""
        ...

    def ack_reports(self, tokens: list[str]) -> None:
        """Acknowledge reports that are now recorded, all in one round trip."""
        ...

    def publish_heartbeat(self, heartbeat: Heartbeat) -> None:
        """Broadcast a heartbeat to every listener."""
        ...

    def heartbeat_listener(self) -> HeartbeatListener:
        """A new subscription that sees every heartbeat published from now on."""
        ...

    def ping(self) -> None:
        """Raise if the bus cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class HeartbeatListener(Protocol):
    """One subscriber's view of the heartbeat broadcast."""

    def receive(self, max_count: int, timeout: float) -> list[Heartbeat]:
        """Heartbeats published since the last call."""
        ...

    def close(self) -> None:
        """Unsubscribe."""
        ...
