"""The notifier's book in SQL: subscriptions from their read table, offsets beside it."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from application.subscriptions.ports import Followed
from projections.base import to_json
from projections.ports import Database
from projections.subscriptions import SubscriptionRow, read_subscriptions

START = """
INSERT INTO subscription_offsets (subscription_id, position, generation, attempts, delivered,
    streaks, updated_at)
VALUES (%(id)s, %(position)s, %(generation)s, 0, 0, '{}', %(at)s)
ON CONFLICT (subscription_id) DO UPDATE SET position = %(position)s,
    generation = %(generation)s, attempts = 0, next_attempt_at = NULL, streaks = '{}',
    updated_at = %(at)s
"""
# Each write names the generation it read: a replay that began meanwhile is not undone.
ADVANCE = """
UPDATE subscription_offsets SET position = %(position)s, attempts = 0, next_attempt_at = NULL,
    delivered = delivered + %(delivered)s, streaks = %(streaks)s, updated_at = %(at)s,
    last_delivered_at = CASE WHEN %(delivered)s > 0 THEN %(at)s ELSE last_delivered_at END
WHERE subscription_id = %(id)s AND generation = %(generation)s
"""
FAILED = """
UPDATE subscription_offsets SET attempts = %(attempts)s, next_attempt_at = %(retry_at)s,
    last_error = %(error)s, last_error_at = %(at)s, updated_at = %(at)s
WHERE subscription_id = %(id)s AND generation = %(generation)s
"""


class SqlSubscriptionBook:
    """application.subscriptions.ports.SubscriptionBook over the read tables' database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def followed(self) -> list[Followed]:
        """Every subscription that is not deleted."""
        return [_followed(row) for row in read_subscriptions(self._db, include_deleted=False)]

    def start(self, subscription_id: UUID, position: int, generation: int, at: datetime) -> None:
        """Begin (again) after `position`."""
        with self._db.transaction() as tx:
            tx.execute(
                START,
                {"id": subscription_id, "position": position, "generation": generation, "at": at},
            )

    def advance(
        self,
        subscription_id: UUID,
        generation: int,
        position: int,
        delivered: int,
        streaks: dict[str, int],
        at: datetime,
    ) -> None:
        """Everything up to `position` is handled."""
        params = {
            "id": subscription_id,
            "generation": generation,
            "position": position,
            "delivered": delivered,
            "streaks": to_json(streaks),
            "at": at,
        }
        with self._db.transaction() as tx:
            tx.execute(ADVANCE, params)

    def failed(
        self,
        subscription_id: UUID,
        generation: int,
        attempts: int,
        next_attempt_at: datetime,
        error: str,
        at: datetime,
    ) -> None:
        """The event after the offset failed `attempts` times."""
        params = {
            "id": subscription_id,
            "generation": generation,
            "attempts": attempts,
            "retry_at": next_attempt_at,
            "error": error[:2000],
            "at": at,
        }
        with self._db.transaction() as tx:
            tx.execute(FAILED, params)


def _followed(row: SubscriptionRow) -> Followed:
    return Followed(
        id=row.id,
        name=row.name,
        target=row.target,
        url_sealed=row.url_sealed,
        email=tuple(row.email),
        secret_sealed=row.secret_sealed,
        filter=row.filter,
        max_attempts=row.max_attempts,
        start_after=row.start_after,
        replay_after=row.replay_after,
        replay_version=row.replay_version,
        offset=row.offset,
        generation=row.generation,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        delivered=row.delivered,
        streaks=row.streaks,
    )
