"""An aggregate's events from the archive files when the live store no longer holds them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from application.archive.files import notification_of, read_manifests, read_records

if TYPE_CHECKING:
    from application.commands.app import SchedulerApp
    from domain.task import Task


class ArchivedAggregates:
    """Reads the files newest first until one holds the aggregate (each is in one file)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def stored_events(self, aggregate_id: UUID) -> list[Any]:
        """The archived stored events of one aggregate, oldest first (none: not archived)."""
        wanted = str(aggregate_id)
        for manifest in reversed(read_manifests(self._directory)):
            found = [
                notification_of(r) for r in read_records(manifest) if r["originator_id"] == wanted
            ]
            if found:
                return sorted(found, key=lambda n: n.originator_version)
        return []


class LogWithArchive:
    """The app's history reads, falling back to the archive for aggregates no longer live."""

    def __init__(self, app: SchedulerApp, archive: ArchivedAggregates) -> None:
        self._app = app
        self._archive = archive

    def aggregate_events(self, aggregate_id: UUID) -> list[Any]:
        """Live events, else the archived ones, decoded as far as possible."""
        live = self._app.aggregate_events(aggregate_id)
        if live:
            return live
        return [self._app.decode(n) for n in self._archive.stored_events(aggregate_id)]

    def task_number(self, task_id: UUID) -> int | None:
        """The task's number (tasks are never archived)."""
        return self._app.task_number(task_id)

    def get_task(self, task_id: UUID, version: int | None = None) -> Task:
        """The task at a version, from the live store."""
        return self._app.get_task(task_id, version)

    def positions(
        self, live: Callable[[UUID], Mapping[int, int]] | None
    ) -> Callable[[UUID], Mapping[int, int]] | None:
        """Version -> position from the live store, else from the archived lines."""
        if live is None:
            return None

        def either(aggregate_id: UUID) -> Mapping[int, int]:
            found = live(aggregate_id)
            if found:
                return found
            archived = self._archive.stored_events(aggregate_id)
            return {n.originator_version: n.id for n in archived}

        return either
