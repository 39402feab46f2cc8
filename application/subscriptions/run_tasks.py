"""Which task an event is about: a task's own events, or a run's (looked up, remembered)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from uuid import UUID

RUN_TOPIC_PREFIX = "scheduler:TaskRun."
TASK_TOPIC_PREFIX = "scheduler:Task."
KNOWN_RUNS = 10_000  # run -> task ids remembered, so a busy run is loaded once


class RunTasks:
    """The task of an event, for the tasks and streak filters; None for other aggregates."""

    def __init__(self, get_run: Callable[[UUID], Any], limit: int = KNOWN_RUNS) -> None:
        self._get_run = get_run
        self._limit = limit
        self._known: OrderedDict[UUID, str] = OrderedDict()

    def task_of(self, event: Any, topic: str) -> str | None:
        """The task id (text) the event concerns.

        Raises:
            NotFoundError, AggregateUnreadableError: the run cannot be loaded.
        """
        if topic.startswith(TASK_TOPIC_PREFIX):
            return str(event.originator_id)
        if not topic.startswith(RUN_TOPIC_PREFIX):
            return None
        run_id = event.originator_id
        known = self._known.get(run_id)
        if known is None:
            known = str(self._get_run(run_id).task_id)
            self._known[run_id] = known
            if len(self._known) > self._limit:
                self._known.popitem(last=False)  # the oldest: runs are short-lived
        return known
