"""The dispatcher's knobs and its ports: what it measures and where it says it is alive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class DispatchPolicy:
    """The dispatcher's knobs, all in seconds except counts."""

    lease_seconds: float = 15.0
    deadline_grace_seconds: float = 30.0
    republish_after_seconds: float = 10.0
    max_recoveries: int = 3
    batch_size: int = 200
    fire_batch_size: int = 1_000  # cron slots per save: a tick of a thousand tasks in one
    poll_interval: float = 1.0
    maintenance_interval: float = 1.0


class DispatchObserver(Protocol):
    """Receives what the dispatcher measures (metrics live in adapters)."""

    def run_finished(self, status: str, duration_seconds: float) -> None: ...

    def run_dispatched(self, latency_seconds: float) -> None: ...

    def stale_report(self) -> None: ...

    def duplicate_report(self) -> None: ...

    def recovered(self, count: int) -> None: ...


class NullObserver:
    """Measures nothing."""

    def run_finished(self, status: str, duration_seconds: float) -> None:
        """Ignore."""

    def run_dispatched(self, latency_seconds: float) -> None:
        """Ignore."""

    def stale_report(self) -> None:
        """Ignore."""

    def duplicate_report(self) -> None:
        """Ignore."""

    def recovered(self, count: int) -> None:
        """Ignore."""


class DispatcherBeacon(Protocol):
    """Where a dispatcher says it is alive and how its rounds go (for /health everywhere)."""

    def beat(
        self,
        name: str,
        started_at: datetime,
        at: datetime,
        *,
        position: int,
        round_at: datetime | None,
        failed_rounds: int,
        error: str | None,
    ) -> None: ...

    def stopped(self, name: str, at: datetime) -> None: ...


class NullBeacon:
    """Tells no one."""

    def beat(
        self,
        name: str,
        started_at: datetime,
        at: datetime,
        *,
        position: int,
        round_at: datetime | None,
        failed_rounds: int,
        error: str | None,
    ) -> None:
        """Ignore."""

    def stopped(self, name: str, at: datetime) -> None:
        """Ignore."""
