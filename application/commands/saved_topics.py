"""What this process saved lately: the topics of each save, by the log position it ended at."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

REMEMBERED_SAVES = 10_000  # far more than the commands a process answers at once


class SavedTopics:
    """The topics of the recent saves of this process (bounded; thread-safe).

    Read-your-writes asks it which event types a command saved, so it waits only for the
    views that handle them; a position it no longer (or never) knew answers None.
    """

    def __init__(self, size: int = REMEMBERED_SAVES) -> None:
        self._size = size
        self._saves: OrderedDict[int, frozenset[str]] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, position: int, topics: Iterable[str]) -> None:
        """The save that ended at `position` stored events of these topics."""
        with self._lock:
            self._saves[position] = frozenset(topics)
            while len(self._saves) > self._size:
                self._saves.popitem(last=False)

    def at(self, position: int) -> frozenset[str] | None:
        """The topics of the save that ended at `position`, if this process made it lately."""
        with self._lock:
            return self._saves.get(position)
