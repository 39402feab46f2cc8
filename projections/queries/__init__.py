"""The query side: reads the read tables and shapes rows into resources, one module a resource.

`ReadModel` is the one object callers hold; each resource's queries are a mixin of it.
"""

from __future__ import annotations

from projections.ports import Database
from projections.queries.rows import as_datetime
from projections.queries.runs import RunQueries
from projections.queries.system import SystemQueries
from projections.queries.tasks import TaskQueries
from projections.queries.workers import WorkerQueries

__all__ = ["ReadModel", "as_datetime"]


class ReadModel(TaskQueries, RunQueries, WorkerQueries, SystemQueries):
    """Queries over the read tables; never writes."""

    def __init__(self, database: Database) -> None:
        self._db = database
