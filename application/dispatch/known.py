"""The aggregates the dispatcher decides about, kept current from the log: its loads read nothing.

A decision loads a run or a task, triggers events on it and saves it. Reloading it from the
store first costs a query per aggregate, on the hot path. Instead the dispatcher keeps the
open runs (and the scheduled tasks) it reads in the log as aggregates, and its commands load
them from here while it is `serving`. The state held for an aggregate is always the log's up
to a known version ("confirmed"): the log's next event is applied to it, a save of this
dispatcher confirms the versions it wrote, and anything else (a decision that was not saved,
an event out of order, one that cannot be applied) forgets the aggregate, so the next load
reads it from the store once and follows it again. Everything here is a cache of the log.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar
from uuid import UUID

from eventsourcing.persistence import Recording

from application.dispatch.cron_firing import TIMING_FIELDS
from application.followed_loads import serving, serving_source
from application.log import EventLog
from domain.statuses import TaskStatus
from domain.task import Task
from domain.task_run import TaskRun

if TYPE_CHECKING:
    from application.dispatch.books import DispatchBooks

logger = logging.getLogger(__name__)

CREATED = (TaskRun.Requested, TaskRun.ShardRequested, Task.Created)
# Scheduled tasks kept as aggregates, the most recently used (a task is ~4 KB in memory): a
# busy schedule stays, and 100,000 yearly tasks do not hold 400 MB. Others load from the store.
MAX_TASKS = 5_000


@dataclass
class _Known:
    aggregate: Any
    confirmed: int  # its state is the log's up to this version


class KnownAggregates:
    """Open runs and scheduled tasks as aggregates, following the log (a cache of it)."""

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        self._known: dict[UUID, _Known] = {}
        self._tasks: OrderedDict[UUID, None] = OrderedDict()  # kept tasks, least recent first
        self._max_tasks = max_tasks
        self.loads = 0  # loads served from here (for tests and profiles)

    def __len__(self) -> int:
        return len(self._known)

    def serving(self) -> AbstractContextManager[None]:
        """Within it, this thread's loads of runs and tasks come from here when known.

        Other threads (the API in `scheduler up`) and other dispatchers on the same app load
        from the store as before.
        """
        return serving(self)

    def apply(self, event: Any) -> None:
        """Follow one event of the log; never raises (a problem forgets the aggregate)."""
        key = getattr(event, "originator_id", None)
        if key is None:
            return
        try:
            self._apply(key, event)
        except Exception as error:  # the log is the truth: load it from there next time
            logger.debug("forgetting %s: %s: %s", key, type(error).__name__, error)
            self._forget(key)

    def _apply(self, key: UUID, event: Any) -> None:
        known = self._known.get(key)
        if known is None:
            if isinstance(event, CREATED) and _worth_keeping(event):
                self._keep(event.mutate(None))
            return
        version = event.originator_version
        if version <= known.confirmed:
            return  # this dispatcher's own decision, applied when it was made
        if version != known.confirmed + 1 or known.aggregate.version != known.confirmed:
            self._forget(key)  # a gap, or a decision of ours that was never saved
            return
        event.mutate(known.aggregate)
        self._keep(known.aggregate)

    def _keep(self, aggregate: Any) -> None:
        if isinstance(aggregate, TaskRun) and aggregate.is_finished:
            self._forget(aggregate.id)  # reports for it now are rare: load those
        elif isinstance(aggregate, Task) and aggregate.status == TaskStatus.DELETED:
            self._forget(aggregate.id)
        else:
            self._known[aggregate.id] = _Known(aggregate, aggregate.version)
            if isinstance(aggregate, Task):
                self._used(aggregate.id)

    def _used(self, task_id: UUID) -> None:
        self._tasks[task_id] = None
        self._tasks.move_to_end(task_id)
        while len(self._tasks) > self._max_tasks:
            oldest, _ = self._tasks.popitem(last=False)
            self._known.pop(oldest, None)

    def _forget(self, key: UUID) -> None:
        self._known.pop(key, None)
        self._tasks.pop(key, None)

    def get(self, aggregate_id: UUID) -> Any | None:
        """The aggregate as the log has it, or None when it must be loaded from the store."""
        known = self._known.get(aggregate_id)
        if known is None:
            return None
        if known.aggregate.version != known.confirmed:
            self._forget(aggregate_id)  # a decision about it was not saved
            return None
        if aggregate_id in self._tasks:
            self._tasks.move_to_end(aggregate_id)
        self.loads += 1
        return known.aggregate

    def loaded(self, aggregate: Any) -> None:
        """Follow an aggregate just loaded from the store (it is the log's up to its version)."""
        if isinstance(aggregate, TaskRun | Task):
            self._keep(aggregate)

    def saved(self, recordings: Sequence[Recording[UUID]]) -> None:
        """Confirm the versions a save of this dispatcher's wrote (others' saves: the log's)."""
        if serving_source() is not self:
            return
        for recording in recordings:
            event = recording.domain_event
            known = self._known.get(event.originator_id)
            if known is not None and known.aggregate.version >= event.originator_version:
                known.confirmed = max(known.confirmed, event.originator_version)
                self._keep(known.aggregate)


def _worth_keeping(event: Any) -> bool:
    # Every run is decided about; of the tasks only the scheduled ones on every tick.
    if isinstance(event, Task.Created):
        return any(event.spec.get(name) for name in TIMING_FIELDS)
    return True


def serve_known(app: EventLog, known: KnownAggregates) -> None:
    """Let `known` confirm the saves made while it serves (the app's loads already ask it)."""
    app.on_recorded(known.saved)


class _FollowsTheLog(Protocol):
    @property
    def books(self) -> DispatchBooks: ...


F = TypeVar("F", bound=_FollowsTheLog)
P = ParamSpec("P")
R = TypeVar("R")


def served(method: Callable[Concatenate[F, P], R]) -> Callable[Concatenate[F, P], R]:
    """Run a decision with the aggregates the dispatcher follows: its loads read nothing."""

    @functools.wraps(method)
    def serve(dispatcher: F, /, *args: P.args, **kwargs: P.kwargs) -> R:
        with dispatcher.books.known.serving():
            return method(dispatcher, *args, **kwargs)

    return serve
