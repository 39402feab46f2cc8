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
    batched = True  # a batch's rows in one executemany
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

    def process(self, event: Any, position: int, tx: Tx) -> None:
        """Index one event."""
        tx.execute(INSERT_EVENT, index_row(event, position))

    def process_many(self, events: Sequence[tuple[int, Any]], tx: Tx) -> None:
        """Index a batch with one `executemany`: the statement is prepared and converted once,
        the rows go out pipelined, and each still sees the rows before it (its task)."""
        tx.executemany(INSERT_EVENT, [index_row(event, position) for position, event in events])


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
