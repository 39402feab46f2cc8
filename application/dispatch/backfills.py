"""The dispatcher's backfill book: which backfills may release slots or saw runs end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from domain.backfill import Backfill, BackfillStatus
from domain.statuses import TERMINAL, RunStatus
from domain.task_run import TaskRun


@dataclass
class OpenBackfill:
    """What the dispatcher knows of a backfill that still has slots or runs to follow."""

    backfill_id: UUID
    task_id: UUID
    concurrency: int
    slots_total: int
    status: str = BackfillStatus.RUNNING
    decided: int = 0
    in_flight: set[UUID] = field(default_factory=set)
    ended: dict[UUID, bool] = field(default_factory=dict)  # run id -> failed, not yet recorded
    asked: bool = False  # a decision was asked for; nothing new has been read since

    def wants_decision(self) -> bool:
        """Ended runs to record, or room and slots to release, and not already asked."""
        if self.asked:
            return False
        if self.ended:
            return True
        running = self.status == BackfillStatus.RUNNING
        return running and (
            (self.decided < self.slots_total and len(self.in_flight) < self.concurrency)
            or not self.in_flight  # everything decided and ended: it completes
        )


class BackfillBook:
    """Follows backfill and run events; says which backfills the dispatcher should advance.

    Releasing slots is the dispatcher's decision (it follows the log anyway): a backfill
    with fewer runs in flight than its limit gets its next slots requested, and a run of it
    that ended is recorded on it, which frees room for the next.
    """

    def __init__(self) -> None:
        self.open: dict[UUID, OpenBackfill] = {}
        self._run_backfill: dict[UUID, UUID] = {}

    def apply(self, event: Any) -> None:
        """Update from one event of the log."""
        key = event.originator_id
        if isinstance(event, Backfill.Started):
            self.open[key] = OpenBackfill(
                key, event.task_id, event.concurrency, event.slots_total, event.status
            )
        elif isinstance(event, Backfill.Event) and (backfill := self.open.get(key)):
            self._backfill_event(backfill, event)
        elif (backfill_id := self._run_backfill.get(key)) is not None:
            status = getattr(type(event), "status", None)
            if isinstance(status, RunStatus) and status in TERMINAL:
                backfill = self.open[backfill_id]
                backfill.ended[key] = status != RunStatus.SUCCEEDED
                backfill.asked = False

    def _backfill_event(self, backfill: OpenBackfill, event: Any) -> None:
        backfill.asked = False
        if isinstance(event, Backfill.SlotsRequested):
            ids = {TaskRun.fire_id(backfill.task_id, t) for t in event.nominal_times}
            backfill.in_flight |= ids
            backfill.decided += len(event.nominal_times) + len(event.existing)
            self._run_backfill.update(dict.fromkeys(ids, backfill.backfill_id))
        elif isinstance(event, Backfill.RunsFinished):
            for run_id in event.run_ids:
                backfill.in_flight.discard(run_id)
                backfill.ended.pop(run_id, None)
                self._run_backfill.pop(run_id, None)
        elif isinstance(event, Backfill.Completed | Backfill.Cancelled):
            backfill.status = str(event.status)
        if backfill.status != BackfillStatus.RUNNING and not backfill.in_flight:
            self.open.pop(backfill.backfill_id, None)  # nothing more to follow

    def due(self) -> list[tuple[UUID, dict[UUID, bool]]]:
        """The backfills to advance now, with their runs seen ending; marks them asked."""
        found = []
        for backfill in self.open.values():
            if backfill.wants_decision():
                backfill.asked = True
                found.append((backfill.backfill_id, dict(backfill.ended)))
        return found

    def advance(self, decide: Callable[[list[tuple[UUID, dict[UUID, bool]]]], Any]) -> int:
        """Have `decide` advance the due backfills (one save); asked again if it fails."""
        if not (due := self.due()):
            return 0
        try:
            decide(due)
        except Exception:
            self.retry(due)
            raise
        return len(due)

    def retry(self, items: list[tuple[UUID, dict[UUID, bool]]]) -> None:
        """Ask again next round (the decision failed)."""
        for backfill_id, _ended in items:
            if backfill := self.open.get(backfill_id):
                backfill.asked = False
