"""What every command mixin shares: loading aggregates and the log position of a save."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, Recording

from application.log import EventLog
from application.ports import IdFactory
from application.quarantine import describe
from application.secrets import Opener, Sealer, SecretBox
from application.task_numbers import TaskNumbers
from domain.context import CommandContext
from domain.errors import AggregateUnreadableError, NotFoundError
from domain.task_run import TaskRun

if TYPE_CHECKING:
    from domain.task import Task

Item = TypeVar("Item")
Result = TypeVar("Result")
# decide(items) -> (the aggregates it changed, its results): loads, decides, records events.
Decide = Callable[[Sequence[Item]], tuple[Sequence[Any], list[Result]]]


A = TypeVar("A")  # the aggregate class a loader asks for


class CommandsBase(EventLog):
    """One Application and one log; each concern's commands are a mixin over this base."""

    # Set by SchedulerApp.__init__.
    _new_id: IdFactory
    _draw: Callable[[], float]
    task_numbers: TaskNumbers
    secrets: SecretBox
    _sealer: Sealer  # seals secret values before any event holds them
    opener: Opener  # opens them, for the worker's delivery only

    if TYPE_CHECKING:  # the loaders the mixins call across concerns (tasks.py, runs.py)

        def get_task(self, task_id: UUID, version: int | None = None) -> Task: ...

        def get_run(self, run_id: UUID, version: int | None = None) -> TaskRun: ...

    def _get(self, aggregate_id: UUID, kind: type[A], label: str, version: int | None) -> A:
        try:
            aggregate: Any = self.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFoundError(label, aggregate_id) from None
        except Exception as error:  # a stored event it cannot replay: say so, do not crash
            raise AggregateUnreadableError(label, aggregate_id, describe(error)) from error
        if not isinstance(aggregate, kind):
            raise NotFoundError(label, aggregate_id)
        return aggregate

    def save_batch(
        self,
        items: Sequence[Item],
        decide: Decide[Item, Result],
        *,
        tries_alone: int = 1,
        raise_when_lost: bool = False,
    ) -> list[Result]:
        """Decide about many items and save what changed in one save; on a conflict, one by one.

        A conflict means another writer saved one of the aggregates since it was loaded. Then
        each item is decided again alone, on the state as it is now, and saved alone, so the
        others still go in. An item alone whose save conflicts `tries_alone` times is lost to
        the other writer, whose decision stands: it gives no results, or with `raise_when_lost`
        the IntegrityError is raised. A batch of one item is already alone.
        """
        if len(items) == 1:
            return self._save_alone(items, decide, tries_alone, raise_when_lost)
        aggregates, results = decide(items)
        if aggregates:
            try:
                self.save(*aggregates)
            except IntegrityError:
                return [
                    result
                    for item in items
                    for result in self._save_alone([item], decide, tries_alone, raise_when_lost)
                ]
        return results

    def _save_alone(
        self,
        item: Sequence[Item],
        decide: Decide[Item, Result],
        tries: int,
        raise_when_lost: bool,
    ) -> list[Result]:
        for attempt in range(1, tries + 1):
            aggregates, results = decide(item)
            if not aggregates:
                return results
            try:
                self.save(*aggregates)
            except IntegrityError:
                if raise_when_lost and attempt == tries:
                    raise
                continue  # yet another save of it: decide again on its newer state
            return results
        return []

    def save_or_concede(self, *aggregates: Any) -> bool:
        """Save them in one save, or concede (False) to a writer that saved one of them first.

        The other writer's decision stands and is in the log; nothing of this one is saved.
        """
        try:
            self.save(*aggregates)
        except IntegrityError:
            return False
        return True

    @staticmethod
    def _position(recordings: list[Recording[UUID]]) -> int | None:
        return recordings[-1].notification.id if recordings else None


def run_context(run: TaskRun, actor: str, now: datetime) -> CommandContext:
    """The context of a decision about a run: in the correlation of the request that began it."""
    return CommandContext(
        actor=actor, now=now, correlation_id=run.correlation_id, causation_id=run.id
    )
