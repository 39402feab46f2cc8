"""Which scheduled slots (cron, interval, run_at) to fire now, and which were missed and why."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from application.slots import SLOTS
from domain.jitter import jitter_offset, jitter_seconds_of
from domain.task import Task
from domain.task_run import TaskRun

TIMING_FIELDS = ("schedule", "timezone", "interval_seconds", "run_at")
TIMING_EVENTS = (
    Task.Created,
    Task.Updated,
    Task.Paused,
    Task.Resumed,
    Task.Deleted,
    Task.MisfiresSkipped,
)

MISFIRE_THRESHOLD = timedelta(seconds=60)  # a slot this late is a misfire, not just late
MAX_CATCH_UP = 1_000  # never fire more than this many missed slots at once
MAX_SLOTS_COUNTED = 100_000  # beyond this, missed slots are reported as "at least"


@dataclass(frozen=True)
class FirePlan:
    """What to do for one task at `now`."""

    fires: tuple[datetime, ...]
    missed_first: datetime | None = None
    missed_last: datetime | None = None
    missed_count: int = 0
    reason: str | None = None


def plan_fires(
    timing: Mapping[str, Any],
    after: datetime,
    now: datetime,
    policy: str,
    catchup_window_seconds: int,
    threshold: timedelta = MISFIRE_THRESHOLD,
    fire_at: Callable[[datetime], datetime] = lambda slot: slot,
) -> FirePlan:
    """Decide the slots of `timing` (schedule/interval/run_at) after `after` up to `now`.

    skip: late slots are not fired. fire_once: of the late slots inside the catch-up window,
    only the newest fires. catch_up: every late slot inside the window fires (at most
    MAX_CATCH_UP). Slots on time always fire. Everything not fired is reported as missed.
    Slots come due in order, each at `fire_at(slot)` (plus jitter); late counts from then.
    """
    due: dict[datetime, datetime] = {}  # slot -> when it fires
    slot = SLOTS.next_slot(timing, after)
    while slot is not None and (moment := fire_at(slot)) <= now and len(due) < MAX_SLOTS_COUNTED:
        due[slot] = moment  # a slot fires no earlier than its nominal time
        slot = SLOTS.next_slot(timing, slot)
    if not due:
        return FirePlan(fires=())
    on_time = [s for s, moment in due.items() if now - moment <= threshold]
    late = [s for s, moment in due.items() if now - moment > threshold]
    window = timedelta(seconds=catchup_window_seconds)
    in_window = [s for s in late if now - due[s] <= window]
    if policy == "catch_up":
        chosen = in_window[-MAX_CATCH_UP:]
        reason = "misfire: older than catchup_window_seconds"
    elif policy == "fire_once":
        chosen = in_window[-1:]
        reason = "misfire: fire_once fired only the newest missed slot"
    else:
        chosen = []
        reason = "misfire: skip policy"
    missed = [s for s in late if s not in set(chosen)]
    return FirePlan(
        fires=tuple(chosen + on_time),
        missed_first=missed[0] if missed else None,
        missed_last=missed[-1] if missed else None,
        missed_count=len(missed),
        reason=reason if missed else None,
    )


@dataclass(slots=True)  # one per scheduled task: 100,000 of them without a __dict__ each
class ScheduledTask:
    """What the dispatcher knows of a scheduled task: its definition and the last slot decided."""

    task_id: UUID
    timing: dict[str, Any]
    misfire_policy: str
    catchup_window_seconds: int
    active: bool
    anchor: datetime  # slots after this are undecided
    next_due: datetime | None = None
    # The slot after next_due, worked out off the tick (when the anchor moves): a tick that
    # finds next_due on time and this one still ahead fires without evaluating the timing.
    following: datetime | None = None
    blocked: str | None = None  # why its timing cannot be evaluated: it fires nothing
    jitter_seconds: int = 0

    def fire_at(self, slot: datetime) -> datetime:
        """When a slot's run is requested: its nominal time plus its jitter."""
        return slot + jitter_offset(self.task_id, slot, self.jitter_seconds)

    def refresh(self) -> None:
        """Recompute the next slots after the anchor; a timing that cannot be read blocks it."""
        if not self.active:
            self.next_due = self.following = None
            return
        try:
            due, following = self.next_due, self.following
            if due is not None and following is not None and due <= self.anchor < following:
                self.next_due, self.following = following, None  # the slot fired moved it
            elif due is None or due <= self.anchor:
                self.next_due, self.following = SLOTS.next_slot(self.timing, self.anchor), None
            if self.next_due is not None and self.following is None:
                self.following = SLOTS.next_slot(self.timing, self.next_due)
            self.blocked = None
        except Exception as error:  # any spec the timing code cannot evaluate
            self.next_due = self.following = None
            self.blocked = f"timing cannot be evaluated: {type(error).__name__}: {error}"

    def on_time_slot(self, now: datetime, threshold: timedelta) -> datetime | None:
        """next_due when it is the only due slot and not late (no evaluation needed), else None."""
        if self.next_due is None or not now >= self.fire_at(self.next_due) >= now - threshold:
            return None
        if self.following is not None and self.fire_at(self.following) <= now:
            return None
        return self.next_due


class CronBook:
    """Follows task and run events; says which cron slots are due at a moment.

    A task whose timing cannot be evaluated is blocked, not dropped: it fires nothing, its
    later events still apply, and a change that makes the timing readable unblocks it.
    `on_blocked(task_id, position, reason)` and `on_unblocked(task_id, note)` say so.
    """

    def __init__(
        self,
        on_blocked: Callable[[UUID, int, str], None] | None = None,
        on_unblocked: Callable[[UUID, str], None] | None = None,
    ) -> None:
        self.tasks: dict[UUID, ScheduledTask] = {}
        self._earliest: datetime | None = None
        self._earliest_known = False  # forgotten on every change, found again when asked
        self._on_blocked = on_blocked or (lambda _task, _position, _reason: None)
        self._on_unblocked = on_unblocked or (lambda _task, _note: None)
        self.position = 0

    def blocked(self) -> dict[UUID, str]:
        """Tasks whose timing cannot be evaluated, with the reason."""
        return {key: task.blocked for key, task in self.tasks.items() if task.blocked}

    def retry(self, task_id: UUID) -> str | None:
        """Evaluate a blocked task's timing again; None when it is readable now."""
        task = self.tasks.get(task_id)
        if task is None:
            return None
        self._earliest_known = False
        self._watch(task, task.refresh, "retried")
        return task.blocked

    def next_due_at(self) -> datetime | None:
        """The earliest undecided slot over every task, or None when nothing is scheduled."""
        if not self._earliest_known:
            dues = [t.fire_at(t.next_due) for t in self.tasks.values() if t.next_due is not None]
            self._earliest, self._earliest_known = (min(dues) if dues else None), True
        return self._earliest

    def apply(self, event: Any, position: int = 0) -> None:
        """Update from one event of the log."""
        self.position = max(self.position, position)
        key = event.originator_id
        if isinstance(event, TIMING_EVENTS) or (
            isinstance(event, TaskRun.Requested) and event.trigger == "cron"
        ):
            self._earliest_known = False
        if isinstance(event, Task.Created):
            self._replace(key, _scheduled(key, event.spec, True, event.timestamp), "created")
        elif isinstance(event, Task.Updated) and key in self.tasks:
            old = self.tasks[key]
            spec = {
                **old.timing,
                "misfire_policy": old.misfire_policy,
                "catchup_window_seconds": old.catchup_window_seconds,
                "jitter_seconds": old.jitter_seconds,
                **event.changes,
            }
            # A new schedule starts from the change; slots before it belong to the old one.
            timing_changed = set(TIMING_FIELDS) & set(event.changes)
            anchor = max(old.anchor, event.timestamp) if timing_changed else old.anchor
            self._replace(key, _scheduled(key, spec, old.active, anchor), "updated")
        elif isinstance(event, Task.Paused) and key in self.tasks:
            self._set(key, active=False)
        elif isinstance(event, Task.Resumed) and key in self.tasks:
            # Slots while paused are not misfires: resuming starts from now.
            self._set(key, active=True, anchor=event.timestamp)
        elif isinstance(event, Task.Deleted):
            gone = self.tasks.pop(key, None)
            if gone is not None and gone.blocked:
                self._on_unblocked(key, "task deleted")
        elif isinstance(event, Task.MisfiresSkipped) and key in self.tasks:
            self._set(key, anchor=event.last_nominal)
        elif (
            isinstance(event, TaskRun.Requested)
            and event.trigger == "cron"
            and event.nominal_time is not None
            and event.task_id in self.tasks
        ):
            self._set(event.task_id, anchor=event.nominal_time)

    def due(
        self, now: datetime
    ) -> tuple[list[tuple[UUID, datetime]], list[tuple[UUID, datetime, datetime, int, str]]]:
        """The slots to fire now and the misfires to record, over every task."""
        fires: list[tuple[UUID, datetime]] = []
        misfires: list[tuple[UUID, datetime, datetime, int, str]] = []
        earliest = self.next_due_at()
        if earliest is None or earliest > now:
            return fires, misfires  # the common case, without looking at every task
        for task in self.tasks.values():
            if task.next_due is None or task.fire_at(task.next_due) > now:
                continue
            if (slot := task.on_time_slot(now, MISFIRE_THRESHOLD)) is not None:
                fires.append((task.task_id, slot))  # the common tick: nothing to evaluate
                continue
            try:
                plan = plan_fires(
                    task.timing,
                    task.anchor,
                    now,
                    task.misfire_policy,
                    task.catchup_window_seconds,
                    fire_at=task.fire_at,
                )
            except Exception as error:  # its later slots cannot be evaluated: block it alone
                task.next_due = None
                task.blocked = f"timing cannot be evaluated: {type(error).__name__}: {error}"
                self._earliest_known = False
                self._on_blocked(task.task_id, self.position, task.blocked)
                continue
            fires += [(task.task_id, nominal) for nominal in plan.fires]
            if plan.missed_count and plan.missed_first and plan.missed_last:
                missed = (plan.missed_first, plan.missed_last, plan.missed_count)
                misfires.append((task.task_id, *missed, plan.reason or "misfire"))
        return fires, misfires

    def _set(
        self, key: UUID, *, active: bool | None = None, anchor: datetime | None = None
    ) -> None:
        task = self.tasks[key]
        if active is not None:
            task.active = active
        if anchor is not None:
            task.anchor = max(task.anchor, anchor)
        self._watch(task, task.refresh, "changed")

    def _replace(self, key: UUID, task: ScheduledTask, how: str) -> None:
        was = self.tasks.get(key)
        self.tasks[key] = task
        if task.blocked and not (was is not None and was.blocked == task.blocked):
            self._on_blocked(key, self.position, task.blocked)
        elif not task.blocked and was is not None and was.blocked:
            self._on_unblocked(key, f"its timing can be evaluated again ({how})")

    def _watch(self, task: ScheduledTask, change: Callable[[], None], how: str) -> None:
        before = task.blocked
        change()
        if task.blocked and task.blocked != before:
            self._on_blocked(task.task_id, self.position, task.blocked)
        elif before and not task.blocked:
            self._on_unblocked(task.task_id, f"its timing can be evaluated again ({how})")


def _scheduled(key: UUID, spec: dict[str, Any], active: bool, anchor: datetime) -> ScheduledTask:
    task = ScheduledTask(
        task_id=key,
        timing={name: _shared(spec.get(name)) for name in TIMING_FIELDS},
        misfire_policy=_shared(spec.get("misfire_policy") or "fire_once"),
        catchup_window_seconds=int(spec.get("catchup_window_seconds") or 0),
        active=active,
        anchor=anchor,
        jitter_seconds=jitter_seconds_of(spec),
    )
    task.refresh()
    return task


def _shared(value: Any) -> Any:
    # Thousands of tasks share a schedule and a zone: one string each, not one per task.
    return sys.intern(value) if isinstance(value, str) else value
