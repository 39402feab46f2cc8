"""Task numbers from the log itself: the Nth `Task.Created` in log order is task N.

The tasks view numbers tasks the same way (a creation it cannot project still takes its
number), but commands must not depend on a view that may be behind or missing a row. This
index reads only the stored rows' ids, so no event, decodable or not, can stop it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

CREATED_TOPIC = "scheduler:Task.Created"
PAGE = 10_000

# (after, limit) -> [(position, originator_id)] of Task.Created rows, oldest first.
CreatedRows = Callable[[int, int], Sequence[tuple[int, Any]]]


class TaskNumbers:
    """Number -> task id and back, caught up from the log when asked about one it lacks."""

    def __init__(self, created_rows: CreatedRows) -> None:
        self._rows = created_rows
        self._ids: list[UUID] = []  # task number N is self._ids[N - 1]
        self._numbers: dict[UUID, int] = {}
        self._position = 0
        self._lock = threading.Lock()

    def id_for(self, number: int) -> UUID | None:
        """The task numbered `number`, or None if there is none (yet)."""
        if number < 1:
            return None
        with self._lock:
            if number > len(self._ids):
                self._catch_up()
            return self._ids[number - 1] if number <= len(self._ids) else None

    def number_of(self, task_id: UUID) -> int | None:
        """The number of a task, or None if it was not created (yet)."""
        with self._lock:
            if task_id not in self._numbers:
                self._catch_up()
            return self._numbers.get(task_id)

    def _catch_up(self) -> None:
        while rows := self._rows(self._position, PAGE):
            for position, originator_id in rows:
                task_id = (
                    originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id))
                )
                if task_id not in self._numbers:
                    self._ids.append(task_id)
                    self._numbers[task_id] = len(self._ids)
                self._position = position
            if len(rows) < PAGE:
                return
