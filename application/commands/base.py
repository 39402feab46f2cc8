"""What every command mixin shares: loading aggregates and the log position of a save."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Notification, Recording

from application.log import EventLog
from application.ports import IdFactory
from application.quarantine import describe
from application.secrets import Opener, Sealer, SecretBox
from application.task_numbers import TaskNumbers
from application.tracing import NO_TRACER, Tracer
from domain.context import CommandContext
from domain.errors import AggregateUnreadableError, NotFoundError
from domain.task_run import TaskRun

if TYPE_CHECKING:
    from application.commands.group_commit import GroupCommit
    from application.commands.saved_topics import SavedTopics
    from domain.task import Task

Item = TypeVar("Item")
Result = TypeVar("Result")
# decide(items) -> (the aggregates it changed, its results): loads, decides, records events.
Decide = Callable[[Sequence[Item]], tuple[Sequence[Any], list[Result]]]
MAX_SAVE_LINKS = 32  # traces a batched save links to


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
    group_commit: GroupCommit  # concurrent saves of this process share one transaction
    recent_saves: SavedTopics  # what each recent save stored, for read-your-writes
    tracer: Tracer = NO_TRACER  # the process's, set by the composition root

    if TYPE_CHECKING:  # the loaders the mixins call across concerns (tasks.py, runs.py)

        def get_task(self, task_id: UUID, version: int | None = None) -> Task: ...

        def get_run(self, run_id: UUID, version: int | None = None) -> TaskRun: ...

        def archived_before(self) -> datetime | None: ...
        def ensure_namespace(self, name: str, field: str = "namespace") -> None: ...

    def saved_topics(self, position: int) -> frozenset[str] | None:
        """The topics of this process's save that ended at `position` (None if unknown)."""
        return self.recent_saves.at(position)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record a save (through the group commit) and remember the topics it stored."""
        if not self.tracer.enabled:
            return self._record_untraced(processing_event)
        events = processing_event.events
        # Inside a traced command the save is its child; a batch of decisions about runs of
        # many traces is linked to each of them (at most MAX_SAVE_LINKS) instead.
        traces = {e.metadata.get("traceparent") for e in events if hasattr(e, "metadata")}
        links = sorted(t for t in traces if t)[:MAX_SAVE_LINKS]
        with self.tracer.span("scheduler.save", None, {"scheduler.events": len(events)}, links):
            return self._record_untraced(processing_event)

    def _record_untraced(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        if processing_event.tracking is not None or processing_event.saved_kwargs:
            recordings = super()._record(processing_event)  # a tracked save is its own
        else:
            recordings = self._record_together(processing_event)
        if recordings:
            topics = (recording.notification.topic for recording in recordings)
            self.recent_saves.remember(recordings[-1].notification.id, topics)
        return recordings

    def _record_together(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """Record through the group commit: concurrent saves share one transaction."""
        events = processing_event.events
        stored = [self.mapper.to_stored_event(event) for event in events]
        positions = self.group_commit.insert(stored) if stored else []
        recordings = [
            Recording(
                event,
                Notification(
                    originator_id=row.originator_id,
                    originator_version=row.originator_version,
                    topic=row.topic,
                    state=row.state,
                    id=position,
                ),
            )
            for event, row, position in zip(events, stored, positions, strict=True)
        ]
        # As the library's _record: the cache holds what was saved.
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return recordings

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

        def together(batch: Sequence[Item]) -> list[Result]:
            aggregates, results = decide(batch)
            if aggregates:
                self.save(*aggregates)
            return results

        return together_or_alone(
            items,
            together,
            lambda item: self._save_alone([item], decide, tries_alone, raise_when_lost),
        )

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


def together_or_alone(
    items: Sequence[Item],
    together: Callable[[Sequence[Item]], list[Result]],
    alone: Callable[[Item], list[Result]],
    *,
    halving: bool = False,
) -> list[Result]:
    """`together(items)`; when that conflicts (IntegrityError), `alone(item)` for each item.

    The rule of every batched write here: a conflict on one item never fails the others. A
    batch of one item is already alone. With `halving`, a conflicting batch is tried again
    in halves first, down to the items alone: one conflict among n items then costs about
    2·log2(n) writes instead of n (for writes whose items need no fresh decision).
    """
    if len(items) == 1:
        return alone(items[0])
    try:
        return together(items)
    except IntegrityError:
        if halving and len(items) > 2:
            middle = len(items) // 2
            return [
                *together_or_alone(items[:middle], together, alone, halving=True),
                *together_or_alone(items[middle:], together, alone, halving=True),
            ]
        return [result for item in items for result in alone(item)]


def run_context(run: TaskRun, actor: str, now: datetime) -> CommandContext:
    """The context of a decision about a run: in the correlation and trace of its request."""
    return CommandContext(
        actor=actor,
        now=now,
        correlation_id=run.correlation_id,
        causation_id=run.id,
        traceparent=run.traceparent,
    )
