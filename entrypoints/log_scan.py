"""Reads stored events by topic in the database: the last few of a type, or those after a point."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from eventsourcing.persistence import Notification

from application.audit import StoredEventLog

PAGE = 1_000  # notifications per query
FIRST_WINDOW = 256  # positions the backward search looks at first; it doubles each step


def last_notifications(
    log: StoredEventLog, count: int, topics: Sequence[str], head: int
) -> list[Notification]:
    """The last `count` events at or before position `head` with one of `topics` (any if none).

    Oldest first. The log is searched backwards in growing windows of positions, each query
    filtered by topic in the database, so a rare type costs a range scan, not a decode of
    every event, and a common one stops after the newest window.
    """
    found: list[Notification] = []
    high, window = head, max(FIRST_WINDOW, count)
    while high >= 1 and len(found) < count:
        low = max(high - window + 1, 1)
        found = _last_in_range(log, low, high, topics, count - len(found)) + found
        high, window = low - 1, window * 2
    return found


def notifications_between(
    log: StoredEventLog, after: int, up_to: int, topics: Sequence[str]
) -> list[Notification]:
    """A page of events after `after`, at most at `up_to`, with one of `topics` (any if none)."""
    return list(
        log.select_notifications(
            start=after, limit=PAGE, stop=up_to, topics=topics, inclusive_of_start=False
        )
    )


def _last_in_range(
    log: StoredEventLog, low: int, high: int, topics: Sequence[str], keep: int
) -> list[Notification]:
    # Reads are ascending only: page through the range, keeping the newest `keep`.
    kept: deque[Notification] = deque(maxlen=keep)
    after = low - 1
    while page := notifications_between(log, after, high, topics):
        kept.extend(page)
        if len(page) < PAGE:
            break
        after = page[-1].id
    return list(kept)
