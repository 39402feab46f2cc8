"""The dispatcher's schedule-control decisions (pause after failures), saved in batches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from application.commands.base import CommandsBase
from domain.context import CommandContext
from domain.statuses import TaskStatus

if TYPE_CHECKING:
    from application.dispatch.failure_streaks import FailurePause
    from domain.task import Task


class ControlCommands(CommandsBase):
    """Decisions the dispatcher takes about tasks from how their runs went."""

    def pause_failing_tasks(
        self, pauses: Sequence[FailurePause], actor: str, now: datetime
    ) -> list[UUID]:
        """Pause each task whose runs failed its `pause_after_failures` times in a row.

        A task paused or deleted meanwhile is left as it is; a pause another dispatcher
        saved first stands. Returns the tasks this call paused.
        """

        def decide(batch: Sequence[FailurePause]) -> tuple[list[Task], list[UUID]]:
            paused: list[Task] = []
            for pause in batch:
                task = self.get_task(pause.task_id)
                if task.status != TaskStatus.ACTIVE:
                    continue
                ctx = CommandContext(
                    actor=actor,
                    now=now,
                    correlation_id=pause.correlation_id,
                    causation_id=pause.last_run_id,
                )
                task.pause(pause.reason, ctx)
                paused.append(task)
            return paused, [task.id for task in paused]

        return self.save_batch(pauses, decide)
