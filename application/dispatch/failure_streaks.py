"""Pause after N consecutive failures: counts each task's failed runs in a row, from the log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from domain.task import Task
from domain.task_run import TaskRun

FAILED_ENDINGS = (TaskRun.Failed, TaskRun.TimedOut)  # final: retries were exhausted
OTHER_ENDINGS = (TaskRun.Cancelled, TaskRun.Skipped, TaskRun.UpstreamFailed)  # count nothing
RUN_EVENTS = (TaskRun.Requested, TaskRun.Succeeded, *FAILED_ENDINGS, *OTHER_ENDINGS)


@dataclass(frozen=True)
class FailurePause:
    """A task whose runs failed `failures` times in a row, at least its threshold."""

    task_id: UUID
    failures: int
    last_run_id: UUID
    correlation_id: UUID  # the last run's batch: the pause joins it

    @property
    def reason(self) -> str:
        """The pause reason recorded on the task."""
        return f"paused after {self.failures} consecutive failures: last run {self.last_run_id}"


@dataclass
class _Streak:
    threshold: int | None
    active: bool = True
    failures: int = 0


class FailureStreakBook:
    """Follows task and run events; says which tasks to pause for failing runs in a row.

    Only final endings count (failed, timed_out); a success resets the count, a cancel or a
    skip changes nothing. A pause (by anyone) or a resume starts the count again, so replaying
    the log never asks to pause a task that was paused or resumed after its streak.
    """

    def __init__(self) -> None:
        self.tasks: dict[UUID, _Streak] = {}
        self.run_tasks: dict[UUID, tuple[UUID, UUID]] = {}  # open run -> (task, batch)
        self.pending: dict[UUID, FailurePause] = {}  # task -> pause to decide

    def apply(self, event: Any) -> None:
        """Update from one event of the log."""
        if isinstance(event, RUN_EVENTS):
            self._run_event(event.originator_id, event)
        else:
            self._task_event(event.originator_id, event)

    def _task_event(self, key: UUID, event: Any) -> None:
        if isinstance(event, Task.Created):
            self.tasks[key] = _Streak(_threshold(event.spec))
        elif isinstance(event, Task.Updated) and key in self.tasks:
            if "pause_after_failures" in event.changes:
                self.tasks[key].threshold = _threshold(event.changes)
        elif isinstance(event, Task.Paused | Task.Resumed) and key in self.tasks:
            streak = self.tasks[key]
            streak.active, streak.failures = isinstance(event, Task.Resumed), 0
            self.pending.pop(key, None)
        elif isinstance(event, Task.Deleted):
            self.tasks.pop(key, None)
            self.pending.pop(key, None)

    def _run_event(self, key: UUID, event: Any) -> None:
        if isinstance(event, TaskRun.Requested):
            if not isinstance(event, TaskRun.ShardRequested):  # its broadcast run counts
                batch = UUID(event.metadata.get("correlation_id") or str(key))
                self.run_tasks[key] = (event.task_id, batch)
        elif isinstance(event, TaskRun.Succeeded) and key in self.run_tasks:
            if streak := self.tasks.get(self.run_tasks.pop(key)[0]):
                streak.failures = 0
        elif isinstance(event, FAILED_ENDINGS) and key in self.run_tasks:
            self._failed(key, *self.run_tasks.pop(key))
        elif isinstance(event, OTHER_ENDINGS):
            self.run_tasks.pop(key, None)

    def _failed(self, run_id: UUID, task_id: UUID, batch: UUID) -> None:
        streak = self.tasks.get(task_id)
        if streak is None:
            return
        streak.failures += 1
        if streak.active and streak.threshold is not None and streak.failures >= streak.threshold:
            self.pending[task_id] = FailurePause(task_id, streak.failures, run_id, batch)

    @contextmanager
    def deciding(self) -> Iterator[list[FailurePause]]:
        """Take the pauses not yet decided on; they are put back if deciding them fails."""
        pauses, self.pending = list(self.pending.values()), {}
        try:
            yield pauses
        except Exception:
            for pause in pauses:  # a newer streak end, read meanwhile, wins
                self.pending.setdefault(pause.task_id, pause)
            raise


def _threshold(spec: dict[str, Any]) -> int | None:
    value = spec.get("pause_after_failures")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
