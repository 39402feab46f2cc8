"""The what-if's facts, from the log and the views: downtime, pauses, runs still running."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from application.commands.app import SchedulerApp
from application.what_if import Facts, Interval, late_gap, merged
from domain.task import Task
from projections.dispatcher_status import FORGET_AFTER, read_dispatchers
from projections.ports import Database
from projections.queries.events import EventFilter, indexed_through, matching_positions
from projections.queries.what_if import cron_fires, run_intervals

EARLIEST = datetime(1, 1, 2, tzinfo=UTC)  # before any slot: "from the beginning"
MAX_MISFIRE_EVENTS = 5_000  # recorded misfires read per question
LIVE = frozenset({"running", "starting", "failing"})  # a dispatcher that is there


def gather_facts(
    app: SchedulerApp, db: Database, task_id: UUID, start: datetime, end: datetime, now: datetime
) -> Facts:
    """What really happened to the task in [start, end], as the log and the views say.

    Downtime is where no dispatcher decided in time: each recorded misfire of any task
    (`Task.MisfiresSkipped`: from its first slot to when it was recorded), each cron fire of
    this task requested late (from its slot to its request), and, when no dispatcher beats now,
    from the last beat (or an hour ago, when none was heard from within the hour) to now.
    """
    notes: list[str] = []
    downtime = _recorded_misfires(app, db, start, end, notes)
    downtime += [g for n, r in cron_fires(db, task_id, start, end) if (g := late_gap(n, r))]
    if (gap := _current_gap(db, now, notes)) is not None:
        downtime.append(gap)
    busy = merged(run_intervals(db, task_id, start, end, now))
    return Facts(
        downtime=merged(downtime),
        inactive=merged(_inactive(app.aggregate_events(task_id), now)),
        busy=busy,
        notes=notes,
    )


def _recorded_misfires(
    app: SchedulerApp, db: Database, start: datetime, end: datetime, notes: list[str]
) -> list[Interval]:
    wanted = EventFilter(type="Task.MisfiresSkipped", since=start)
    positions = matching_positions(db, wanted, 0, MAX_MISFIRE_EVENTS)
    if len(positions) == MAX_MISFIRE_EVENTS:
        notes.append(f"only the first {MAX_MISFIRE_EVENTS} recorded misfires were read")
    if app.head_position() > indexed_through(db):
        notes.append("the event index is behind the log: the newest misfires may be missing")
    gaps = []
    for _position, event in app.events_at(positions):
        if isinstance(event, Task.MisfiresSkipped) and event.first_nominal <= end:
            gaps.append((event.first_nominal, event.timestamp))
    return gaps


def _current_gap(db: Database, now: datetime, notes: list[str]) -> Interval | None:
    dispatchers = read_dispatchers(db, now)
    if any(d.status(now) in LIVE for d in dispatchers):
        return None
    if not dispatchers:
        notes.append("no dispatcher was heard from in the last hour: counted as downtime")
        return (now - FORGET_AFTER, now)
    return (max(d.beat_at for d in dispatchers), now)


def _inactive(events: list[Any], now: datetime) -> list[Interval]:
    # Before its creation, while paused, after its deletion: the task fires nothing.
    inactive: list[Interval] = []
    paused_at: datetime | None = None
    for event in events:
        if isinstance(event, Task.Created):
            inactive.append((EARLIEST, event.timestamp))
        elif isinstance(event, Task.Paused | Task.Deleted) and paused_at is None:
            paused_at = event.timestamp
        elif isinstance(event, Task.Resumed) and paused_at is not None:
            inactive.append((paused_at, event.timestamp))
            paused_at = None
    if paused_at is not None:
        inactive.append((paused_at, max(now, paused_at)))
    return inactive
