"""The `event_index` read table: each event's type, aggregate, actor, correlation, task, worker.

GET /api/events and `scheduler events query` filter on it, then read the events themselves
from the log by position. It indexes every event, an undecodable one too (by its topic), so
a query never misses an event because a view could not read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.utils import get_topic

from application.quarantine import UndecodableEvent
from domain import api_key, task, task_run, worker  # noqa: F401  (their event classes, below)
from domain.aggregate import SchedulerAggregate
from projections.base import Projection
from projections.ports import Tx

# A TaskRun's task is named by its Requested event only: later events of the run take it
# from that row (the run's first), so `task_id` finds every event of the task's runs.
INSERT_EVENT = """
INSERT INTO event_index
    (position, type, aggregate_id, version, recorded_at, actor, correlation_id, task_id,
     worker_id)
VALUES (%(position)s, %(type)s, %(aggregate_id)s, %(version)s, %(at)s, %(actor)s,
        %(correlation_id)s,
        COALESCE(%(task_id)s, (SELECT f.task_id FROM event_index f
                               WHERE f.aggregate_id = %(aggregate_id)s
                                 AND f.task_id IS NOT NULL
                               ORDER BY f.position LIMIT 1)),
        %(worker_id)s)
ON CONFLICT (position) DO NOTHING
"""
COLUMNS = (
    "position",
    "type",
    "aggregate_id",
    "version",
    "recorded_at",
    "actor",
    "correlation_id",
    "task_id",
    "worker_id",
)
# Each column's key in index_row's dict.
KEYS = dict(zip(COLUMNS, (*COLUMNS[:4], "at", *COLUMNS[5:]), strict=True))
# The task of an aggregate's first earlier row with one (INSERT_EVENT's subselect), row `i`.
FIRST_TASK = """(SELECT f.task_id FROM event_index f
    WHERE f.aggregate_id = %(aggregate_id_{i})s AND f.task_id IS NOT NULL
      AND f.position < %(position_{i})s
    ORDER BY f.position LIMIT 1)"""
ROWS_PER_STATEMENT = 200  # 9 values a row: far below SQLite's 32,766 variables
TASK_PREFIX = "Task."
WORKER_PREFIX = "Worker."


def event_classes() -> list[type]:
    """Every event class of the domain's aggregates (what a rebuild must decode for us)."""
    found: list[type] = []
    pending: list[type] = [SchedulerAggregate.Event]
    while pending:
        cls = pending.pop()
        subclasses: list[type] = cls.__subclasses__()
        for sub in subclasses:
            if sub not in found:
                found.append(sub)
                pending.append(sub)
    return [cls for cls in found if getattr(cls, "TOPIC", None)]


class EventIndexProjection(Projection):
    """Keeps one event_index row per event of the log."""

    name = "event_index"
    tables = ("event_index",)
    _every: ClassVar[dict[type, int] | None] = None

    @classmethod
    def topics(cls) -> frozenset[str]:
        """None: a command's answer does not wait for the index (its queries say how far it is)."""
        return frozenset()

    def handled_events(self) -> dict[type, int]:
        """Every event class: each one is indexed."""
        if EventIndexProjection._every is None:
            EventIndexProjection._every = dict.fromkeys(event_classes(), 1)
        return EventIndexProjection._every

    def handles(self, event: Any) -> bool:
        """Every event."""
        return True

    def concerns(self, event: Any) -> bool:
        """Every event, decodable or not."""
        return True

    batched = True

    def process(self, event: Any, position: int, tx: Tx) -> None:
        """Index one event."""
        tx.execute(INSERT_EVENT, index_row(event, position))

    def process_many(self, events: Sequence[tuple[int, Any]], tx: Tx) -> None:
        """Index a batch with a few multi-row INSERTs: one statement costs about what a row does.

        Rows whose task the batch settles go first; then the rest, which look theirs up among
        the earlier rows (the first ones included), as INSERT_EVENT does row by row.
        """
        known, lookup = split_rows([index_row(event, position) for position, event in events])
        for rows, looked_up in ((known, False), (lookup, True)):
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                sql, params = insert_many(rows[start : start + ROWS_PER_STATEMENT], looked_up)
                tx.execute(sql, params)


def split_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows whose task the batch settles (given the task its aggregate's first row with
    one names), and the rows that must look it up among the rows indexed before them.

    A row settles it with a task of its own, or when its aggregate's first event (version 1)
    is in the batch: no earlier row exists, so the batch's earlier rows are all there is.
    """
    first_task: dict[str, str] = {}
    born_here: set[str] = set()
    known: list[dict[str, Any]] = []
    lookup: list[dict[str, Any]] = []
    for row in rows:
        key = row["aggregate_id"]
        if row["version"] == 1:
            born_here.add(key)
        if row["task_id"] is not None:
            first_task.setdefault(key, row["task_id"])
            known.append(row)
        elif key in born_here:
            row["task_id"] = first_task.get(key)
            known.append(row)
        else:
            lookup.append(row)
    return known, lookup


def insert_many(rows: Sequence[dict[str, Any]], looked_up: bool) -> tuple[str, dict[str, Any]]:
    """One INSERT of many event_index rows (their task looked up, or as given), with params."""
    values: list[str] = []
    params: dict[str, Any] = {}
    for i, row in enumerate(rows):
        fields = []
        for column, key in KEYS.items():
            if looked_up and column == "task_id":
                fields.append(FIRST_TASK.format(i=i))
                continue
            params[f"{column}_{i}"] = row[key]
            fields.append(f"%({column}_{i})s")
        values.append(f"({', '.join(fields)})")
    sql = (
        f"INSERT INTO event_index ({', '.join(COLUMNS)}) VALUES {', '.join(values)} "
        "ON CONFLICT (position) DO NOTHING"
    )
    return sql, params


def index_row(event: Any, position: int) -> dict[str, Any]:
    """The indexed fields of one event (an undecodable one: its topic, aggregate and version)."""
    aggregate_id = str(event.originator_id)
    if isinstance(event, UndecodableEvent):
        kind = event.topic.removeprefix("scheduler:")
        return _row(position, kind, aggregate_id, event.originator_version, None, {}, None, None)
    kind = get_topic(type(event)).removeprefix("scheduler:")
    task_id = getattr(event, "task_id", None)
    worker_id = getattr(event, "worker_id", None)
    if kind.startswith(TASK_PREFIX):
        task_id = event.originator_id
    elif kind.startswith(WORKER_PREFIX):
        worker_id = event.originator_id
    metadata = getattr(event, "metadata", None) or {}
    return _row(
        position,
        kind,
        aggregate_id,
        event.originator_version,
        event.timestamp,
        metadata,
        task_id,
        worker_id,
    )


def _row(
    position: int,
    kind: str,
    aggregate_id: str,
    version: int,
    at: Any,
    metadata: dict[str, Any],
    task_id: Any,
    worker_id: Any,
) -> dict[str, Any]:
    return {
        "position": position,
        "type": kind,
        "aggregate_id": aggregate_id,
        "version": version,
        "at": at,
        "actor": metadata.get("actor"),
        "correlation_id": metadata.get("correlation_id"),
        "task_id": None if task_id is None else str(task_id),
        "worker_id": None if worker_id is None else str(worker_id),
    }
