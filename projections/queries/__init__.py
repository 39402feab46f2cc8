"""The query side: reads the read tables and shapes rows into resources, one module a resource.

`ReadModel` is the one object callers hold; each resource's queries are a mixin of it.
"""

from __future__ import annotations

from projections.ports import Database
from projections.queries.rows import as_datetime
from projections.queries.runs import RunQueries, attempt_resource, run_resource
from projections.queries.system import SystemQueries
from projections.queries.tasks import TaskQueries, task_resource
from projections.queries.workers import WorkerQueries, worker_resource

__all__ = [
    "ReadModel",
    "as_datetime",
    "attempt_resource",
    "run_resource",
    "task_resource",
    "worker_resource",
]


class ReadModel(TaskQueries, RunQueries, WorkerQueries, SystemQueries):
    """Queries over the read tables; never writes."""

    def __init__(self, database: Database) -> None:
        self._db = database
