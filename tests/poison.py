"""Events no handler can process, written straight into the stored log through the recorder.

Validation is bypassed on purpose: these stand for rows an old release, a bug or a hand
wrote, which the log (append-only) keeps forever.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent

from application.commands.app import SchedulerApp
from domain.context import CommandContext
from domain.task import Task
from domain.task_name import TaskName
from domain.task_run import TaskRun

SPEC = {
    "description": "",
    "task_type": "batch",
    "executor": "shell",
    "command": "true",
    "args": [],
    "env": {},
    "working_dir": None,
    "schedule": None,
    "timezone": "UTC",
    "interval_seconds": None,
    "run_at": None,
    "priority": "normal",
    "retry_count": 0,
    "retry_delay_seconds": 10.0,
    "retry_backoff": 2.0,
    "retry_max_delay_seconds": 3600.0,
    "timeout_seconds": 3600,
    "depends_on": [],
    "concurrency_policy": "allow",
    "misfire_policy": "fire_once",
    "catchup_window_seconds": 3600,
    "routing_strategy": "least_loaded",
    "queue": "default",
    "labels": {},
    "http": None,
}


def _ctx(at: datetime | None) -> CommandContext:
    return CommandContext("poison-test", at or datetime.now(UTC), uuid.uuid4())


def impossible_schedule(
    app: SchedulerApp, name: str, schedule: str = "0 0 31 2 *", at: datetime | None = None
) -> uuid.UUID:
    """A task (with its name reserved) whose cron names a day that never comes."""
    ctx = _ctx(at)
    task = Task._create_with(
        Task.Created, uuid.uuid4(), ctx, spec={**SPEC, "name": name, "schedule": schedule}
    )
    app.save(task, TaskName.create(name, task.id, ctx))
    return task.id


def wrong_type_run(app: SchedulerApp, task_id: uuid.UUID, at: datetime | None = None) -> uuid.UUID:
    """A run of a real task whose stored definition has fields of the wrong type."""
    ctx = _ctx(at)
    run = TaskRun._create_with(
        TaskRun.Requested,
        uuid.uuid4(),
        ctx,
        task_id=task_id,
        task_version=1,
        task={**SPEC, "name": 12345, "labels": "not-a-map", "command": ["not", "text"]},
        trigger="manual",
        nominal_time=None,
        params={},
    )
    app.save(run)
    return run.id


def unknown_topic(app: SchedulerApp) -> uuid.UUID:
    """An event of a class no code knows (a newer release, or a renamed class)."""
    return _raw(app, "scheduler:Task.Exploded", b'{"spec": {}}')


def undecodable_state(app: SchedulerApp) -> uuid.UUID:
    """A run request whose stored state is not JSON at all."""
    return _raw(app, "scheduler:TaskRun.Requested", b"\x00\x01 not json")


def stored(
    app: SchedulerApp,
    event_class: type[Any],
    aggregate_id: uuid.UUID,
    version: int,
    at: datetime | None = None,
    **fields: Any,
) -> uuid.UUID:
    """An event of a real class with whatever field values, encoded as the mapper would."""
    ctx = _ctx(at)
    event = object.__new__(event_class)
    object.__setattr__(
        event,
        "__dict__",
        {
            "originator_id": aggregate_id,
            "originator_version": version,
            "timestamp": ctx.now,
            "metadata": ctx.metadata(),
            **fields,
        },
    )
    app.recorder.insert_events([app.mapper.to_stored_event(event)])
    return aggregate_id


def _raw(app: SchedulerApp, topic: str, state: bytes) -> uuid.UUID:
    aggregate_id = uuid.uuid4()
    app.recorder.insert_events(
        [StoredEvent(originator_id=aggregate_id, originator_version=1, topic=topic, state=state)]
    )
    return aggregate_id


def inject_all(app: SchedulerApp, healthy_task_id: uuid.UUID, name: str) -> dict[str, Any]:
    """One of each kind; returns their aggregate ids by kind."""
    return {
        "impossible_schedule": impossible_schedule(app, name),
        "wrong_type": wrong_type_run(app, healthy_task_id),
        "unknown_topic": unknown_topic(app),
        "undecodable": undecodable_state(app),
    }
