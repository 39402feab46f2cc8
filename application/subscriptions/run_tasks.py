"""Which task an event is about: a task's own events, or a run's (looked up, remembered)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from uuid import UUID

from domain.namespace import namespace_of

RUN_TOPIC_PREFIX = "scheduler:TaskRun."
TASK_TOPIC_PREFIX = "scheduler:Task."
KNOWN_RUNS = 10_000  # run -> task ids remembered, so a busy run is loaded once


class RunTasks:
    """The task (and namespace) of an event, for the tasks, streak and namespace filters;
    None for other aggregates."""

    def __init__(
        self,
        get_run: Callable[[UUID], Any],
        limit: int = KNOWN_RUNS,
        get_task: Callable[[UUID], Any] | None = None,
    ) -> None:
        self._get_run = get_run
        self._get_task = get_task
        self._limit = limit
        self._known: OrderedDict[UUID, tuple[str, str]] = OrderedDict()  # run: task, namespace
        self._task_namespaces: OrderedDict[str, str] = OrderedDict()

    def task_of(self, event: Any, topic: str) -> str | None:
        """The task id (text) the event concerns.

        Raises:
            NotFoundError, AggregateUnreadableError: the run cannot be loaded.
        """
        if topic.startswith(TASK_TOPIC_PREFIX):
            return str(event.originator_id)
        if not topic.startswith(RUN_TOPIC_PREFIX):
            return None
        return self._run(event.originator_id)[0]

    def namespace_of(self, event: Any, topic: str) -> str | None:
        """The namespace of a task's or a run's event (None for other aggregates).

        Raises:
            NotFoundError, AggregateUnreadableError: the run or task cannot be loaded.
        """
        if topic.startswith(RUN_TOPIC_PREFIX):
            return self._run(event.originator_id)[1]
        if not topic.startswith(TASK_TOPIC_PREFIX):
            return None
        task_id = str(event.originator_id)
        if isinstance(getattr(event, "spec", None), dict):  # Task.Created says it
            self._remember(self._task_namespaces, task_id, namespace_of(event.spec))
        elif task_id not in self._task_namespaces and self._get_task is not None:
            found = namespace_of(self._get_task(event.originator_id).spec)
            self._remember(self._task_namespaces, task_id, found)
        return self._task_namespaces.get(task_id)

    def _run(self, run_id: UUID) -> tuple[str, str]:
        known = self._known.get(run_id)
        if known is None:
            run = self._get_run(run_id)
            known = (str(run.task_id), namespace_of(getattr(run, "task", None) or {}))
            self._remember(self._known, run_id, known)
        return known

    def _remember(self, cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        cache[key] = value
        if len(cache) > self._limit:
            cache.popitem(last=False)  # the oldest: runs are short-lived
