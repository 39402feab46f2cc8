"""What the notifier needs: the subscriptions and their offsets, and senders for each target."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID


@dataclass(frozen=True)
class Followed:
    """One live subscription as the notifier follows it: its definition and its progress."""

    id: UUID
    name: str
    target: str  # "url" or "email"
    url_sealed: str | None
    email: tuple[str, ...]
    secret_sealed: str | None
    filter: dict[str, Any]
    max_attempts: int
    start_after: int
    replay_after: int | None
    replay_version: int
    offset: int | None  # None: not started
    generation: int
    attempts: int
    next_attempt_at: datetime | None
    delivered: int
    streaks: dict[str, int] = field(default_factory=dict)


class SubscriptionBook(Protocol):
    """The live subscriptions (a read table) and the notifier's offsets (its bookkeeping).

    Every write names the generation it read: a replay that started meanwhile wins.
    """

    def followed(self) -> list[Followed]:
        """Every subscription that is not deleted."""
        ...

    def start(self, subscription_id: UUID, position: int, generation: int, at: datetime) -> None:
        """Begin (or begin again, for a replay) after `position`, with no attempts or streaks."""
        ...

    def advance(
        self,
        subscription_id: UUID,
        generation: int,
        position: int,
        delivered: int,
        streaks: dict[str, int],
        at: datetime,
    ) -> None:
        """Everything up to `position` is handled; `delivered` more were acknowledged."""
        ...

    def failed(
        self,
        subscription_id: UUID,
        generation: int,
        attempts: int,
        next_attempt_at: datetime,
        error: str,
        at: datetime,
    ) -> None:
        """The event after the offset failed `attempts` times; try again at `next_attempt_at`."""
        ...


@dataclass(frozen=True)
class Delivery:
    """One message to one target: a signed JSON body, and its headers."""

    target: str  # "url" or "email"
    url: str | None
    email: tuple[str, ...]
    subject: str
    body: bytes
    headers: dict[str, str]
    delivery_id: str


class DeliveryFailedError(Exception):
    """The receiver did not acknowledge a delivery (refused, unreachable, timed out)."""


class Sender(Protocol):
    """Sends a delivery; returns once the receiver acknowledged it."""

    def send(self, delivery: Delivery) -> None:
        """Send it.

        Raises:
            DeliveryFailedError: it was not acknowledged.
        """
        ...


class Lease(Protocol):
    """The right to be the deployment's one notifier."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class NotifierPolicy:
    """How hard the notifier tries: `[alerting]` settings."""

    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    batch_size: int = 100
    poll_interval_seconds: float = 1.0

    def backoff(self, attempts: int) -> float:
        """Seconds before the next attempt after `attempts` failed ones (doubling, capped)."""
        return float(min(self.retry_base_seconds * 2 ** (attempts - 1), self.retry_max_seconds))
