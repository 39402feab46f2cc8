"""Each projection's position, lag, last error and last rebuild, readable by any process."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from projections.ports import Database, EventLog, Tx
from projections.queries.rows import as_datetime

logger = logging.getLogger(__name__)

# A projection is degraded past either limit: reads would miss this many events, or the
# oldest event it has not applied was recorded this long ago (it is stuck, not just busy).
LAG_LIMIT_EVENTS = 10_000
STALL_LIMIT_SECONDS = 60.0

SELECT_TRACKING = "SELECT projection, position, updated_at FROM projection_tracking"
SELECT_STATUS = """
SELECT projection, last_error, last_error_at, rebuilt_at, rebuilt_position FROM projection_status
"""
RECORD_ERROR = """
INSERT INTO projection_status (projection, last_error, last_error_at)
VALUES (%(name)s, %(error)s, %(at)s)
ON CONFLICT (projection) DO UPDATE SET last_error = %(error)s, last_error_at = %(at)s
"""
CLEAR_ERROR = """
UPDATE projection_status SET last_error = NULL, last_error_at = NULL
WHERE projection = %(name)s AND last_error IS NOT NULL
"""
NOTE_REBUILT = """
INSERT INTO projection_status (projection, rebuilt_at, rebuilt_position)
VALUES (%(name)s, %(at)s, %(position)s)
ON CONFLICT (projection) DO UPDATE SET rebuilt_at = %(at)s, rebuilt_position = %(position)s
"""
MAX_ERROR_CHARS = 2_000


@dataclass
class ProjectionState:
    """One projection as every process can see it."""

    name: str
    tables: tuple[str, ...]
    position: int
    head: int | None
    updated_at: datetime | None = None  # when its position last moved
    last_error: str | None = None
    last_error_at: datetime | None = None
    rebuilt_at: datetime | None = None
    behind_since: datetime | None = None  # time of the oldest event it has not applied

    @property
    def lag(self) -> int | None:
        """Events in the log that it has not applied yet."""
        return None if self.head is None else max(self.head - self.position, 0)

    def problem(self, now: datetime) -> str | None:
        """Why it is degraded, or None when it is healthy."""
        if self.last_error:
            return f"last batch failed: {self.last_error}"
        if self.lag is not None and self.lag > LAG_LIMIT_EVENTS:
            return f"{self.lag} events behind (limit {LAG_LIMIT_EVENTS})"
        if self.behind_since is not None:
            stalled = (now - self.behind_since).total_seconds()
            if stalled > STALL_LIMIT_SECONDS:
                return f"has not applied an event recorded {stalled:.0f}s ago"
        return None


def read_states(
    database: Database,
    log: EventLog,
    projections: Sequence[Any],
    *,
    with_stall: bool = True,
) -> list[ProjectionState]:
    """The state of each projection (objects with `name` and `tables`), in the given order.

    With `with_stall`, the oldest unapplied event of each lagging projection is read to tell
    a stuck projection from a busy one.
    """
    try:
        head: int | None = log.head_position()
    except Exception:  # the store is down: positions and errors are still worth showing
        head = None
    tracking = {r["projection"]: r for r in database.query(SELECT_TRACKING)}
    status = {r["projection"]: r for r in database.query(SELECT_STATUS)}
    states = []
    behind: dict[int, datetime | None] = {}  # projections often stand at the same position
    for projection in projections:
        row, extra = tracking.get(projection.name, {}), status.get(projection.name, {})
        state = ProjectionState(
            name=projection.name,
            tables=tuple(projection.tables),
            position=int(row.get("position") or 0),
            head=head,
            updated_at=as_datetime(row.get("updated_at")),
            last_error=extra.get("last_error"),
            last_error_at=as_datetime(extra.get("last_error_at")),
            rebuilt_at=as_datetime(extra.get("rebuilt_at")),
        )
        if with_stall and state.lag:
            if state.position not in behind:
                behind[state.position] = _oldest_unapplied(log, state.position)
            state.behind_since = behind[state.position]
        states.append(state)
    return states


def record_error(database: Database, name: str, error: str, at: datetime) -> bool:
    """Store a runner's last error in its own transaction; False if that failed too."""
    try:
        with database.transaction() as tx:
            tx.execute(RECORD_ERROR, {"name": name, "error": error[:MAX_ERROR_CHARS], "at": at})
    except Exception as failure:  # the database is often why the batch failed
        logger.debug("could not record the projection error: %s", failure)
        return False
    return True


def clear_error(database: Database, name: str) -> bool:
    """Forget a runner's last error after a good batch; False if that failed."""
    try:
        with database.transaction() as tx:
            tx.execute(CLEAR_ERROR, {"name": name})
    except Exception as failure:
        logger.debug("could not clear the projection error: %s", failure)
        return False
    return True


def note_rebuilt(tx: Tx, name: str, position: int, at: datetime) -> None:
    """Remember when a projection was last rebuilt, in the swap's transaction."""
    tx.execute(NOTE_REBUILT, {"name": name, "position": position, "at": at})


def now_utc() -> datetime:
    """The current time, for comparisons with stored times."""
    return datetime.now(UTC)


def _oldest_unapplied(log: EventLog, position: int) -> datetime | None:
    try:
        events = log.read_log(position, 1)
    except Exception:  # an event that cannot be decoded also shows up as the runner's error
        return None
    return events[0][1].timestamp if events else None
