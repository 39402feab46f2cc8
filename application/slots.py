"""Next cron slots, remembered per schedule: many tasks share a schedule, and so its slots."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from domain.timing import next_slot, timing_field

SCHEDULES_KEPT = 4_096  # distinct schedules remembered (the least recently used go first)
SPANS_KEPT = 8  # remembered answers per schedule


class SlotMemo:
    """`next_slot` for UTC cron schedules, answered from earlier answers where they tell.

    The next slot after t is a step function of t: if s is the first slot after t0, it is also
    the first slot after any t in [t0, s). So one evaluation answers every task of the same
    schedule whose anchor falls in that span: on a replay of 100,000 tasks created over a few
    minutes, or the tick after 1,000 every-minute tasks fired. Only UTC: in zones with clock
    changes the DST rules (domain/cron.py) are left to the evaluation itself. Timings that
    fail are not remembered (they raise again), nor are intervals and run_at (cheap already).
    """

    def __init__(self) -> None:
        self._spans: OrderedDict[str, list[tuple[datetime, datetime]]] = OrderedDict()
        self._lock = threading.Lock()  # dispatchers in threads of one process share it
        self.evaluated = 0  # evaluations of a schedule, for tests and profiles

    def next_slot(self, timing: Mapping[str, Any], after: datetime) -> datetime | None:
        """The first nominal fire time strictly after `after` (see domain.timing.next_slot)."""
        if (
            timing_field(timing) != "schedule"
            or (timing.get("timezone") or "UTC") != "UTC"
            or after.tzinfo is None
        ):
            return next_slot(timing, after)
        expression = str(timing["schedule"])
        with self._lock:
            spans = self._spans.get(expression)
            if spans is not None:
                self._spans.move_to_end(expression)
                for start, known in spans:
                    if start <= after < known:
                        return known
        slot = next_slot(timing, after)  # outside the lock: it may take a while
        self.evaluated += 1
        if slot is not None:
            self._remember(expression, after, slot)
        return slot

    def _remember(self, expression: str, after: datetime, slot: datetime) -> None:
        with self._lock:
            spans = self._spans.setdefault(expression, [])
            self._spans.move_to_end(expression)
            spans.insert(0, (after, slot))
            del spans[SPANS_KEPT:]
            while len(self._spans) > SCHEDULES_KEPT:
                self._spans.popitem(last=False)


SLOTS = SlotMemo()  # one per process: its answers are the timing's, whoever asks
