"""The `subscriptions` read table: each subscription, its replay requests and dead letters.

The notifier's own progress (offset, counters, last error) sits beside it in
`subscription_offsets`, bookkeeping of the notifier that this projection never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from domain.subscription import Subscription
from projections.base import Projection, from_json, handles, to_json
from projections.ports import Database, Row, Tx
from projections.queries.rows import as_datetime

INSERT = """
INSERT INTO subscriptions (id, name, target, destination, url_sealed, email, secret_sealed,
    filter, max_attempts, start_after, created_at, created_by, position)
VALUES (%(id)s, %(name)s, %(target)s, %(destination)s, %(url)s, %(email)s, %(secret)s,
    %(filter)s, %(max_attempts)s, %(start_after)s, %(at)s, %(actor)s, %(position)s)
ON CONFLICT (id) DO NOTHING
"""
REPLAY = """
UPDATE subscriptions SET replay_after = %(after)s, replay_version = %(version)s,
    position = %(position)s
WHERE id = %(id)s
"""
DEAD_LETTER = """
UPDATE subscriptions SET dead_lettered = dead_lettered + 1, last_dead_letter = %(letter)s,
    position = %(position)s
WHERE id = %(id)s
"""
DELETE = """
UPDATE subscriptions SET deleted_at = %(at)s, position = %(position)s
WHERE id = %(id)s AND deleted_at IS NULL
"""
SELECT = """
SELECT s.id, s.name, s.target, s.destination, s.url_sealed, s.email, s.secret_sealed,
    s.filter, s.max_attempts, s.start_after, s.replay_after, s.replay_version,
    s.dead_lettered, s.last_dead_letter, s.created_at, s.created_by, s.deleted_at,
    o.position AS offset_position, o.generation, o.attempts, o.next_attempt_at, o.delivered,
    o.last_error, o.last_error_at, o.last_delivered_at, o.streaks
FROM subscriptions s LEFT JOIN subscription_offsets o ON o.subscription_id = s.id
"""


class SubscriptionsProjection(Projection):
    """Keeps the subscriptions table."""

    name = "subscriptions"
    tables = ("subscriptions",)

    @handles(Subscription.Created)
    def subscription_created(self, event: Subscription.Created, position: int, tx: Tx) -> None:
        tx.execute(
            INSERT,
            {
                "id": event.originator_id,
                "name": event.name,
                "target": event.target,
                "destination": event.destination,
                "url": event.url,
                "email": to_json(list(event.email)),
                "secret": event.secret,
                "filter": to_json(event.filter),
                "max_attempts": event.max_attempts,
                "start_after": event.start_after,
                "at": event.timestamp,
                "actor": str((event.metadata or {}).get("actor") or "unknown"),
                "position": position,
            },
        )

    @handles(Subscription.ReplayRequested)
    def replay_requested(self, event: Subscription.ReplayRequested, position: int, tx: Tx) -> None:
        tx.execute(
            REPLAY,
            {
                "id": event.originator_id,
                "after": event.from_position - 1,
                "version": event.originator_version,
                "position": position,
            },
        )

    @handles(Subscription.DeadLettered)
    def dead_lettered(self, event: Subscription.DeadLettered, position: int, tx: Tx) -> None:
        letter = {
            "position": event.position,
            "event_type": event.event_type,
            "aggregate_id": event.aggregate_id,
            "delivery_id": event.delivery_id,
            "attempts": event.attempts,
            "error": event.error,
            "at": event.timestamp.isoformat(),
        }
        tx.execute(
            DEAD_LETTER,
            {"id": event.originator_id, "letter": to_json(letter), "position": position},
        )

    @handles(Subscription.Deleted)
    def subscription_deleted(self, event: Subscription.Deleted, position: int, tx: Tx) -> None:
        tx.execute(DELETE, {"id": event.originator_id, "at": event.timestamp, "position": position})


@dataclass(frozen=True)
class SubscriptionRow:
    """One subscription as the read table has it, with the notifier's progress."""

    id: UUID
    name: str
    target: str
    destination: str
    url_sealed: str | None
    email: list[str]
    secret_sealed: str | None
    filter: dict[str, Any]
    max_attempts: int
    start_after: int
    replay_after: int | None
    replay_version: int
    dead_lettered: int
    last_dead_letter: dict[str, Any] | None
    created_at: datetime
    created_by: str
    deleted_at: datetime | None
    offset: int | None  # None: the notifier has not started on it yet
    generation: int
    attempts: int
    next_attempt_at: datetime | None
    delivered: int
    last_error: str | None
    last_error_at: datetime | None
    last_delivered_at: datetime | None
    streaks: dict[str, int]

    def public(self, head: int) -> dict[str, Any]:
        """The subscription as the API shows it: never the URL's path nor the secret."""
        offset = self.offset if self.offset is not None else self.start_after
        stored = self.filter
        return {
            "id": str(self.id),
            "name": self.name,
            "target": self.target,
            "destination": self.destination,
            "event_types": [t.removeprefix("scheduler:") for t in stored.get("topics") or ()],
            "tasks": list(stored.get("tasks") or ()),
            "statuses": list(stored.get("statuses") or ()),
            "failed_in_a_row": stored.get("failed_in_a_row"),
            "namespace": stored.get("namespace"),
            "max_attempts": self.max_attempts,
            "status": "deleted" if self.deleted_at else "active",
            "offset": offset,
            "lag": max(head - offset, 0),
            "pending_attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "delivered": self.delivered,
            "dead_lettered": self.dead_lettered,
            "last_dead_letter": self.last_dead_letter,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_delivered_at": self.last_delivered_at,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "deleted_at": self.deleted_at,
        }


def read_subscriptions(database: Database, include_deleted: bool = True) -> list[SubscriptionRow]:
    """Every subscription, oldest first."""
    where = "" if include_deleted else " WHERE s.deleted_at IS NULL"
    rows = database.query(SELECT + where + " ORDER BY s.created_at, s.id")
    return [_row(r) for r in rows]


def read_subscription(database: Database, subscription_id: UUID) -> SubscriptionRow | None:
    """One subscription, or None."""
    row = database.one(SELECT + " WHERE s.id = %(id)s", {"id": subscription_id})
    return _row(row) if row is not None else None


def _row(row: Row) -> SubscriptionRow:
    created = as_datetime(row["created_at"])
    assert created is not None
    return SubscriptionRow(
        id=UUID(str(row["id"])),
        name=row["name"],
        target=row["target"],
        destination=row["destination"],
        url_sealed=row["url_sealed"],
        email=list(from_json(row["email"]) or []),
        secret_sealed=row["secret_sealed"],
        filter=dict(from_json(row["filter"]) or {}),
        max_attempts=int(row["max_attempts"]),
        start_after=int(row["start_after"]),
        replay_after=_int(row["replay_after"]),
        replay_version=int(row["replay_version"]),
        dead_lettered=int(row["dead_lettered"]),
        last_dead_letter=from_json(row["last_dead_letter"]),
        created_at=created,
        created_by=row["created_by"],
        deleted_at=as_datetime(row["deleted_at"]),
        offset=_int(row["offset_position"]),
        generation=int(row["generation"] or 0),
        attempts=int(row["attempts"] or 0),
        next_attempt_at=as_datetime(row["next_attempt_at"]),
        delivered=int(row["delivered"] or 0),
        last_error=row["last_error"],
        last_error_at=as_datetime(row["last_error_at"]),
        last_delivered_at=as_datetime(row["last_delivered_at"]),
        streaks=dict(from_json(row["streaks"]) or {}),
    )


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None
