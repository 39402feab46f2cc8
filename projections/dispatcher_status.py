"""Each dispatcher's last beat and round, readable by every process (for /health)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from projections.ports import Database
from projections.queries.rows import as_datetime

BEAT = """
INSERT INTO dispatcher_status (name, started_at, beat_at, last_round_at, position, failed_rounds,
                               last_error, last_error_at, stopped_at)
VALUES (%(name)s, %(started_at)s, %(at)s, %(round_at)s, %(position)s, %(failed)s, %(error)s,
        %(error_at)s, NULL)
ON CONFLICT (name) DO UPDATE SET
    started_at = EXCLUDED.started_at, beat_at = EXCLUDED.beat_at,
    last_round_at = EXCLUDED.last_round_at, position = EXCLUDED.position,
    failed_rounds = EXCLUDED.failed_rounds, last_error = EXCLUDED.last_error,
    last_error_at = COALESCE(EXCLUDED.last_error_at, dispatcher_status.last_error_at),
    stopped_at = NULL
"""
STOPPED = "UPDATE dispatcher_status SET stopped_at = %(at)s WHERE name = %(name)s"
SELECT = """
SELECT name, started_at, beat_at, last_round_at, position, failed_rounds, last_error,
       last_error_at, stopped_at
FROM dispatcher_status ORDER BY name
"""
STALE_AFTER = timedelta(seconds=15)  # default: no beat for this long is dead or stuck
FAILING_ROUNDS = 10  # this many failed rounds in a row: it runs but cannot make progress
FORGET_AFTER = timedelta(hours=1)  # a dispatcher silent this long is history, not a problem


class SqlDispatcherBeacon:
    """Writes a dispatcher's beats to the dispatcher_status table."""

    def __init__(self, database: Database) -> None:
        self._db = database

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
        """Record one beat."""
        with self._db.transaction() as tx:
            tx.execute(
                BEAT,
                {
                    "name": name,
                    "started_at": started_at,
                    "at": at,
                    "round_at": round_at,
                    "position": position,
                    "failed": failed_rounds,
                    "error": error,
                    "error_at": at if error else None,
                },
            )

    def stopped(self, name: str, at: datetime) -> None:
        """Record a clean stop."""
        with self._db.transaction() as tx:
            tx.execute(STOPPED, {"name": name, "at": at})


@dataclass(frozen=True)
class DispatcherState:
    """One dispatcher as every process sees it."""

    name: str
    started_at: datetime
    beat_at: datetime
    last_round_at: datetime | None
    position: int
    failed_rounds: int
    last_error: str | None
    stopped_at: datetime | None

    def status(self, now: datetime, stale_after: timedelta = STALE_AFTER) -> str:
        """running, starting, failing, stale (dead or stuck) or stopped."""
        if self.stopped_at is not None:
            return "stopped"
        if now - self.beat_at > stale_after:
            return "stale"
        if self.failed_rounds >= FAILING_ROUNDS:
            return "failing"
        return "starting" if self.last_round_at is None else "running"

    def as_record(self, now: datetime, stale_after: timedelta = STALE_AFTER) -> dict[str, Any]:
        """JSON-ready, with its status."""
        return {
            "name": self.name,
            "status": self.status(now, stale_after),
            "started_at": self.started_at.isoformat(),
            "beat_at": self.beat_at.isoformat(),
            "last_round_at": self.last_round_at.isoformat() if self.last_round_at else None,
            "position": self.position,
            "failed_rounds": self.failed_rounds,
            "last_error": self.last_error,
        }


def read_dispatchers(database: Database, now: datetime) -> list[DispatcherState]:
    """Every dispatcher heard from in the last hour."""
    states = []
    for row in database.query(SELECT):
        state = DispatcherState(
            name=row["name"],
            started_at=_time(row["started_at"]),
            beat_at=_time(row["beat_at"]),
            last_round_at=as_datetime(row["last_round_at"]),
            position=int(row["position"]),
            failed_rounds=int(row["failed_rounds"]),
            last_error=row["last_error"],
            stopped_at=as_datetime(row["stopped_at"]),
        )
        if now - state.beat_at <= FORGET_AFTER:
            states.append(state)
    return states


def _time(value: Any) -> datetime:
    moment = as_datetime(value)
    assert moment is not None  # NOT NULL columns
    return moment
