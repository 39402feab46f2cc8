"""Past states of one aggregate, rebuilt by replaying its events through the real projections.

The events go into a scratch in-memory copy of the read tables, so a reconstructed task, run
or worker has exactly the shape and rules of the live views, with no second copy of the logic.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from adapters.database import SqliteDatabase
from adapters.migrations import apply_migrations
from domain.errors import InvalidFieldError, NotFoundError
from projections.base import Projection
from projections.queries import ReadModel
from projections.runs import RunsProjection
from projections.tasks import TasksProjection
from projections.workers import WorkersProjection


def events_until(
    events: Sequence[Any], *, version: int | None = None, as_of: datetime | None = None
) -> list[Any]:
    """The events up to a version and/or a moment (inclusive)."""
    return [
        e
        for e in events
        if (version is None or e.originator_version <= version)
        and (as_of is None or e.timestamp <= as_of)
    ]


def events_at(events: list[Any], kind: str, as_of: str | None, version: int | None) -> list[Any]:
    """The events up to `version` and/or `as_of`; says clearly when that state never existed.

    Raises:
        InvalidFieldError: a version beyond the latest, or an `as_of` without an offset.
        NotFoundError: the aggregate did not exist yet at `as_of`.
    """
    latest = events[-1].originator_version
    if version is not None and version > latest:
        raise InvalidFieldError("version", f"{kind} has versions 1 to {latest}")
    moment = None
    if as_of is not None:
        try:
            moment = parse_moment(as_of)
        except ValueError as error:
            raise InvalidFieldError("as_of", str(error)) from None
    chosen = events_until(events, version=version, as_of=moment)
    if not chosen:
        raise NotFoundError(kind, f"{events[0].originator_id} at {as_of}")
    return chosen


def task_state(events: Sequence[Any], number: int | None) -> dict[str, Any] | None:
    """The task resource after these events; `number` is the live task number."""
    with _scratch(TasksProjection(), events) as read:
        task = read.task_by_uuid(events[0].originator_id) if events else None
    if task is not None:
        task["id"] = number
    return task


def run_state(events: Sequence[Any]) -> dict[str, Any] | None:
    """The run resource (with its attempts) after these events."""
    with _scratch(RunsProjection(), events) as read:
        return read.run(events[0].originator_id) if events else None


def worker_state(events: Sequence[Any]) -> dict[str, Any] | None:
    """The worker resource after these events (its running count needs run events: 0)."""
    with _scratch(WorkersProjection(), events) as read:
        return read.worker(events[0].originator_id) if events else None


@contextmanager
def _scratch(projection: Projection, events: Sequence[Any]) -> Iterator[ReadModel]:
    """An in-memory read database holding one projection's view of a few events."""
    database = SqliteDatabase(Path(":memory:"))
    try:
        apply_migrations(database, announce=False)  # a scratch copy: nothing to announce
        with database.transaction() as tx:
            for event in events:
                # The version stands in for the log position: only order matters here.
                projection.process(event, event.originator_version, tx)
        yield ReadModel(database)
    finally:
        database.close()


def parse_moment(text: str) -> datetime:
    """An ISO 8601 time with an offset; naive times are refused (ambiguous)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. {text}+00:00")
    return moment
