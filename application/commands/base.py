"""What every command mixin shares: loading aggregates and the log position of a save."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Recording

from application.log import EventLog
from application.ports import IdFactory
from application.quarantine import describe
from application.task_numbers import TaskNumbers
from domain.context import CommandContext
from domain.errors import AggregateUnreadableError, NotFoundError
from domain.task_run import TaskRun

if TYPE_CHECKING:
    from domain.task import Task


class CommandsBase(EventLog):
    """One Application and one log; each concern's commands are a mixin over this base."""

    # Set by SchedulerApp.__init__.
    _new_id: IdFactory
    _draw: Callable[[], float]
    task_numbers: TaskNumbers

    if TYPE_CHECKING:  # the loaders the mixins call across concerns (tasks.py, runs.py)

        def get_task(self, task_id: UUID, version: int | None = None) -> Task: ...

        def get_run(self, run_id: UUID, version: int | None = None) -> TaskRun: ...

    def _get(self, aggregate_id: UUID, kind: type[Any], label: str, version: int | None) -> Any:
        try:
            aggregate = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(label, aggregate_id) from None
        except Exception as error:  # a stored event it cannot replay: say so, do not crash
            raise AggregateUnreadableError(label, aggregate_id, describe(error)) from error
        if not isinstance(aggregate, kind):
            raise NotFoundError(label, aggregate_id)
        return aggregate

    @staticmethod
    def _position(recordings: list[Recording[UUID]]) -> int | None:
        return recordings[-1].notification.id if recordings else None


def _run_context(run: TaskRun, actor: str, now: datetime) -> CommandContext:
    # Decisions about a run stay in the correlation of the request that started it.
    return CommandContext(
        actor=actor, now=now, correlation_id=run.correlation_id, causation_id=run.id
    )
