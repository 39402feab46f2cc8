"""The `tasks` read table: one row per task, numbered 1, 2, 3… in log order."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from application.quarantine import event_topic
from application.slots import SLOTS
from domain.errors import ScheduleError
from domain.jitter import jitter_offset
from domain.namespace import DEFAULT_NAMESPACE, namespace_of
from domain.task import TASK_STATUS_CHANGES, Task
from domain.task_run import TaskRun
from projections.base import Projection, from_json, handles, to_json
from projections.ports import Tx

INSERT_TASK = """
INSERT INTO tasks (uuid, number, name, status, pause_reason, priority, schedule, version, spec,
                   created_at, updated_at, next_fire_at, position, namespace)
VALUES (%(uuid)s,
        (SELECT COALESCE(MAX(number), 0) + 1 FROM tasks),
        %(name)s, 'active', NULL, %(priority)s, %(schedule)s, %(version)s, %(spec)s,
        %(at)s, %(at)s, %(next_fire_at)s, %(position)s, %(namespace)s)
ON CONFLICT (uuid) DO UPDATE SET
    name = EXCLUDED.name, status = EXCLUDED.status, priority = EXCLUDED.priority,
    namespace = EXCLUDED.namespace,
    schedule = EXCLUDED.schedule, version = EXCLUDED.version, spec = EXCLUDED.spec,
    next_fire_at = EXCLUDED.next_fire_at
WHERE tasks.status = 'quarantined'
"""
# The number of a task whose creation could not be projected is kept all the same, so every
# later task keeps the number the log order gives it (and a retry fills the row in).
INSERT_QUARANTINED = """
INSERT INTO tasks (uuid, number, name, status, pause_reason, priority, schedule, version, spec,
                   created_at, updated_at, next_fire_at, position, namespace)
VALUES (%(uuid)s,
        (SELECT COALESCE(MAX(number), 0) + 1 FROM tasks),
        %(name)s, 'quarantined', NULL, 'normal', NULL, %(version)s, %(spec)s,
        %(at)s, %(at)s, NULL, %(position)s, %(namespace)s)
ON CONFLICT (uuid) DO NOTHING
"""
CREATED_TOPIC = "scheduler:Task.Created"
SELECT_SPEC = "SELECT spec, status FROM tasks WHERE uuid = %(uuid)s"
UPDATE_SPEC = """
UPDATE tasks SET name = %(name)s, priority = %(priority)s, schedule = %(schedule)s,
                 spec = %(spec)s, version = %(version)s, updated_at = %(at)s,
                 next_fire_at = %(next_fire_at)s, position = %(position)s
WHERE uuid = %(uuid)s
"""
UPDATE_STATUS = """
UPDATE tasks SET status = %(status)s, pause_reason = %(pause_reason)s, version = %(version)s,
                 updated_at = %(at)s, next_fire_at = %(next_fire_at)s, position = %(position)s
WHERE uuid = %(uuid)s
"""


SET_LAST_MISFIRE = "UPDATE tasks SET last_misfire = %(misfire)s WHERE uuid = %(uuid)s"
UPDATE_NEXT_FIRE = """
UPDATE tasks SET next_fire_at = %(next_fire_at)s WHERE uuid = %(uuid)s AND status = 'active'
"""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the time of an event whose time cannot be read


def _next_fire(
    task_id: UUID, spec: dict[str, Any], status: str, after: datetime
) -> datetime | None:
    # Computed from the event's own time, so a rebuild yields the same value.
    if status != "active":
        return None
    return _next_slot_or_none(task_id, spec, after)


def _next_slot_or_none(task_id: UUID, spec: dict[str, Any], after: datetime) -> datetime | None:
    # A timing that cannot be evaluated (stored before validation refused it) has no next
    # fire: the row shows NULL instead of the projection stopping on it. The moment shown
    # is when the run will be requested: the slot plus its jitter, as the dispatcher fires.
    try:
        slot = SLOTS.next_slot(spec, after)  # tasks sharing a schedule share its slots
    except ScheduleError:
        return None
    if slot is None:
        return None
    return slot + jitter_offset(task_id, slot, spec.get("jitter_seconds"))


class TasksProjection(Projection):
    """Keeps the tasks table; the number is the count of tasks created before, plus one."""

    name = "tasks"
    tables = ("tasks",)

    def on_quarantined(self, event: Any, position: int, tx: Tx) -> None:
        """A creation that failed still takes its number: a stub row, status quarantined."""
        if event_topic(event) != CREATED_TOPIC:
            return
        spec = getattr(event, "spec", None)
        name = spec.get("name") if isinstance(spec, dict) else None
        name = name if isinstance(name, str) and name else f"quarantined-{event.originator_id}"
        stub = {"name": name, "executor": "unknown", "command": "", "priority": "normal"}
        namespace = namespace_of(spec) if isinstance(spec, dict) else DEFAULT_NAMESPACE
        tx.execute(
            INSERT_QUARANTINED,
            {
                "uuid": event.originator_id,
                "name": name,
                "namespace": namespace,
                "version": event.originator_version,
                "spec": to_json(stub),
                "at": getattr(event, "timestamp", None) or _EPOCH,
                "position": position,
            },
        )

    @handles(Task.Created)
    def task_created(self, event: Task.Created, position: int, tx: Tx) -> None:
        spec = event.spec
        tx.execute(
            INSERT_TASK,
            {
                "uuid": event.originator_id,
                "name": spec["name"],
                "namespace": namespace_of(spec),
                "priority": spec["priority"],
                "schedule": spec.get("schedule"),
                "version": event.originator_version,
                "spec": to_json(spec),
                "at": event.timestamp,
                "next_fire_at": _next_fire(event.originator_id, spec, "active", event.timestamp),
                "position": position,
            },
        )

    @handles(Task.Updated)
    def task_updated(self, event: Task.Updated, position: int, tx: Tx) -> None:
        row = tx.one(SELECT_SPEC, {"uuid": event.originator_id})
        if row is None:
            return
        spec = {**from_json(row["spec"]), **event.changes}
        tx.execute(
            UPDATE_SPEC,
            {
                "uuid": event.originator_id,
                "name": spec["name"],
                "priority": spec["priority"],
                "schedule": spec.get("schedule"),
                "spec": to_json(spec),
                "version": event.originator_version,
                "at": event.timestamp,
                "next_fire_at": _next_fire(
                    event.originator_id, spec, row["status"], event.timestamp
                ),
                "position": position,
            },
        )

    @handles(*TASK_STATUS_CHANGES)
    def task_status_changed(self, event: Any, position: int, tx: Tx) -> None:
        status = type(event).status
        row = tx.one(SELECT_SPEC, {"uuid": event.originator_id})
        spec = from_json(row["spec"]) if row else {}
        tx.execute(
            UPDATE_STATUS,
            {
                "uuid": event.originator_id,
                "status": status,
                "pause_reason": getattr(event, "reason", None) if status == "paused" else None,
                "version": event.originator_version,
                "at": event.timestamp,
                "next_fire_at": _next_fire(event.originator_id, spec, status, event.timestamp),
                "position": position,
            },
        )

    @handles(TaskRun.Requested, Task.MisfiresSkipped)
    def slot_decided(self, event: Any, position: int, tx: Tx) -> None:
        """A slot fired or was recorded missed: the next one is after it."""
        if isinstance(event, TaskRun.Requested):
            if event.trigger != "cron" or event.nominal_time is None:
                return
            task_id, decided = event.task_id, event.nominal_time
        else:
            task_id, decided = event.originator_id, event.last_nominal
        row = tx.one(SELECT_SPEC, {"uuid": task_id})
        if row is None or row["status"] != "active":
            return
        tx.execute(
            UPDATE_NEXT_FIRE,
            {
                "uuid": task_id,
                "next_fire_at": _next_slot_or_none(task_id, from_json(row["spec"]), decided),
            },
        )

    @handles(Task.MisfiresSkipped)
    def misfires_recorded(self, event: Task.MisfiresSkipped, position: int, tx: Tx) -> None:
        """Keep the latest misfire decision on the task, so 'why did it not fire?' is a read."""
        misfire = {
            "first_nominal": event.first_nominal.isoformat(),
            "last_nominal": event.last_nominal.isoformat(),
            "count": event.count,
            "reason": event.reason,
            "decided_at": event.timestamp.isoformat(),
        }
        tx.execute(SET_LAST_MISFIRE, {"uuid": event.originator_id, "misfire": to_json(misfire)})
