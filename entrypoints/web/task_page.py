"""One task's page: definition, next fire times, runs, history; shown again on a refused trigger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from application.ports import Clock
from domain.cron import next_fire_time
from domain.principal import Principal
from entrypoints.api.deps import ClockDep, HistoryDep, ReadModelDep, ReferencesDep
from entrypoints.web.templating import render
from projections.history import History
from projections.queries import ReadModel
from projections.references import TaskReferences

RUNS_SHOWN = 20


@dataclass(frozen=True)
class TriggerForm:
    """What was typed into the trigger form, and why it was refused."""

    params: str
    error: str


@dataclass(frozen=True)
class TaskPage:
    """Renders a task's page from the views and the log."""

    references: TaskReferences
    read_model: ReadModel
    history: History
    clock: Clock

    def render(
        self,
        request: Request,
        principal: Principal,
        ref: str,
        offset: int = 0,
        compare: int | None = None,
        trigger: TriggerForm | None = None,
    ) -> HTMLResponse:
        """The page (422 with the trigger form marked when `trigger` says why it was refused)."""
        task = self.references.resource(ref).task
        task_id = UUID(task["uuid"])
        runs, total = self.read_model.list_runs(
            task_uuid=task_id, status=None, limit=RUNS_SHOWN, offset=offset
        )
        events = self.history.records(task_id, "task")
        diff = None
        if compare is not None and compare <= task["version"]:
            diff = self.history.task_diff(task_id, compare, None)
        return render(
            request,
            "task.html",
            principal,
            422 if trigger else 200,
            task=task,
            stats=self.read_model.task_stats(task_id),
            fires=next_fires(task, self.clock.now()),
            runs=runs,
            total=total,
            offset=offset,
            history=list(reversed(events)),
            diff=diff,
            compare=compare,
            trigger=trigger,
        )


def task_page(
    references: ReferencesDep, read_model: ReadModelDep, history: HistoryDep, clock: ClockDep
) -> TaskPage:
    """The task page's reads, from the process's objects."""
    return TaskPage(references, read_model, history, clock)


TaskPageDep = Annotated[TaskPage, Depends(task_page)]


def next_fires(task: dict[str, Any], now: datetime, count: int = 10) -> list[datetime]:
    """The next fire times of a cron task (none when manual-only, paused or deleted)."""
    if not task.get("schedule") or task["status"] != "active":
        return []
    fires, after = [], now
    for _ in range(count):
        after = next_fire_time(task["schedule"], task.get("timezone") or "UTC", after)
        fires.append(after)
    return fires
