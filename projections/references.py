"""Task references: a task named by its number, its UUID or its name.

Commands resolve on the write side (the name and number indexes in the log), which is never
behind; queries read the tasks view, and fall back to the log while the view lacks the task,
so that an answer is honest rather than a 404 for a task that exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from domain.errors import InvalidFieldError, NotFoundError
from domain.ids import is_task_number, parse_uuid
from projections.history import History
from projections.queries import ReadModel

logger = logging.getLogger(__name__)
MAX_TASK_NUMBER = 2**31 - 1  # the tasks.number column is a 32-bit integer


class TaskIndex(Protocol):
    """The write side's name and number indexes."""

    def resolve_task_ref(self, ref: str) -> UUID:
        """The task a number, UUID or name names (raises NotFoundError)."""
        ...


@dataclass(frozen=True)
class FoundTask:
    """A task resource, and whether it came from its events because the view lacks it."""

    task: dict[str, Any]
    from_log: bool


class TaskReferences:
    """Resolves task references for commands (the log) and for queries (the view, then the log)."""

    def __init__(self, read_model: ReadModel, index: TaskIndex, history: History) -> None:
        self._read = read_model
        self._index = index
        self._history = history

    def task_id(self, ref: str, field: str = "ref") -> UUID:
        """The UUID a reference names, from the write side, never the tasks view.

        Raises:
            NotFoundError: no task has that number, UUID or name.
            InvalidFieldError: the reference is a number no task can have (naming `field`).
        """
        if is_task_number(ref):
            task_number(ref, field)
        return self._index.resolve_task_ref(ref)

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
            task = self._read.task_by_name(ref)
        if task is None:
            raise NotFoundError("task", ref)
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
            task = self._history.task_from_log(self._index.resolve_task_ref(ref))
            if task is None:
                raise
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
