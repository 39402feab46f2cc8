"""Task references: a task named by its number, its UUID or its name.

Commands resolve on the write side (the name and number indexes in the log), which is never
behind; queries read the tasks view, and fall back to the log while the view lacks the task,
so that an answer is honest rather than a 404 for a task that exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.errors import InvalidFieldError, NotFoundError
from domain.ids import is_task_number, parse_uuid
from domain.namespace import DEFAULT_NAMESPACE, namespace_of
from projections.history import History
from projections.queries import ReadModel

logger = logging.getLogger(__name__)
MAX_TASK_NUMBER = 2**31 - 1  # the tasks.number column is a 32-bit integer


class TaskIndex(Protocol):
    """The write side's name and number indexes."""

    def resolve_task_ref(self, ref: str, namespace: str = DEFAULT_NAMESPACE) -> UUID:
        """The task a number, UUID or name (in `namespace`) names (raises NotFoundError)."""
        ...

    def task_namespace(self, task_id: UUID) -> str:
        """The namespace a task belongs to (raises NotFoundError)."""
        ...


def _everywhere(_namespace: str) -> bool:
    return True


@dataclass(frozen=True)
class FoundTask:
    """A task resource, and whether it came from its events because the view lacks it."""

    task: dict[str, Any]
    from_log: bool


class TaskReferences:
    """Resolves task references for commands (the log) and for queries (the view, then the log)."""

    def __init__(
        self,
        read_model: ReadModel,
        index: TaskIndex,
        history: History,
        namespace: str = DEFAULT_NAMESPACE,
        sees: Callable[[str], bool] | None = None,
    ) -> None:
        self._read = read_model
        self._index = index
        self._history = history
        self._namespace = namespace  # where a name is looked up
        self._sees = sees  # the namespaces the caller may see; None: every one

    def within(self, namespace: str) -> TaskReferences:
        """The same references with names looked up in `namespace` (a new task's own)."""
        return TaskReferences(self._read, self._index, self._history, namespace, self._sees)

    def _visible(self, ref: str, task_id: UUID, namespace: str | None = None) -> UUID:
        # A task of a namespace the caller may not see is not found: its existence is hidden.
        if self._sees is not None:
            if not self._sees(namespace or self._index.task_namespace(task_id)):
                raise NotFoundError("task", ref)
        return task_id

    def ensure_sees_task_of(self, task_id: UUID, kind: str, ref: object) -> None:
        """Hide (404 naming `kind` and `ref`) what belongs to a task the caller may not see.

        Raises:
            NotFoundError: the task's namespace is outside the caller's.
        """
        if self._sees is not None and not self._sees(self._index.task_namespace(task_id)):
            raise NotFoundError(kind, ref)

    def task_id(self, ref: str, field: str = "ref") -> UUID:
        """The UUID a reference names, from the write side, never the tasks view.

        Raises:
            NotFoundError: no task has that number, UUID or name.
            InvalidFieldError: the reference is a number no task can have (naming `field`).
        """
        if is_task_number(ref):
            task_number(ref, field)
        return self._visible(ref, self._index.resolve_task_ref(ref, self._namespace))

    def in_view(self, ref: str, field: str = "ref") -> dict[str, Any]:
        """The task resource the tasks view holds.

        Raises:
            NotFoundError: the view has no task of that number, UUID or name.
            InvalidFieldError: the reference is a number no task can have (naming `field`).
        """
        task: dict[str, Any] | None
        if is_task_number(ref):
            task = self._read.task_by_number(task_number(ref, field))
        elif (task_uuid := parse_uuid(ref)) is not None:
            task = self._read.task_by_uuid(task_uuid)
        else:
            task = self._read.task_by_name(ref, self._namespace)
        if task is None:
            raise NotFoundError("task", ref)
        self._visible(ref, UUID(task["uuid"]), namespace_of(task))
        return task

    def resource(self, ref: str) -> FoundTask:
        """The task from the view; from its events when the view lacks it or cannot be read.

        Raises:
            NotFoundError: no task has that number, UUID or name, in the view or the log.
            InvalidFieldError: the reference is a number no task can have.
        """
        try:
            return FoundTask(self.in_view(ref), from_log=False)
        except InvalidFieldError:
            raise
        except Exception as error:  # not in the view, or the view cannot be read
            if not isinstance(error, NotFoundError):
                logger.warning("tasks view unreadable; answering from the log", exc_info=True)
            task_id = self._index.resolve_task_ref(ref, self._namespace)
            task = self._history.task_from_log(task_id)
            if task is None:
                raise
            self._visible(ref, task_id, namespace_of(task))
            return FoundTask(task, from_log=True)

    def upstreams(self, refs: list[str]) -> list[str]:
        """`depends_on` refs (number, UUID or name) as task UUIDs.

        Raises:
            InvalidFieldError: naming `depends_on`, for a reference no task has.
        """
        resolved = []
        for ref in refs:
            try:
                resolved.append(str(self.task_id(ref)))
            except (NotFoundError, InvalidFieldError):
                raise InvalidFieldError("depends_on", f"no task {ref!r}") from None
        return resolved


def task_number(ref: str, field: str = "ref") -> int:
    """A task number from digits; one beyond the numbers tasks can have is a 422 naming `field`."""
    # The length before int(): Python refuses to convert thousands of digits at all.
    digits = ref.lstrip("0") or "0"
    if len(digits) > len(str(MAX_TASK_NUMBER)) or int(digits) > MAX_TASK_NUMBER:
        shown = ref if len(ref) <= 20 else f"{ref[:20]}... ({len(ref)} digits)"
        raise InvalidFieldError(field, f"task number {shown} is beyond {MAX_TASK_NUMBER}")
    return int(digits)
