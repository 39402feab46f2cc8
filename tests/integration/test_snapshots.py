"""Long-lived aggregates load from snapshots, and the snapshot equals replaying every event."""

from __future__ import annotations

import uuid

from application.commands.app import SNAPSHOT_INTERVAL, SchedulerApp
from domain.context import CommandContext
from domain.task import Task
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container


def test_a_task_edited_many_times_loads_from_a_snapshot_equal_to_its_replay(
    container: Container,
) -> None:
    app = container.app
    ctx = CommandContext("tester", container.clock.now(), uuid.uuid4())
    task_id = app.create_task(validate_spec({"name": "busy", "command": "echo 0"}), ctx)
    edits = SNAPSHOT_INTERVAL * 2 + 5
    for i in range(1, edits + 1):
        app.update_task(task_id.aggregate_id, {"command": f"echo {i}"}, ctx)
    assert app.snapshots is not None
    snapshots = list(app.snapshots.get(task_id.aggregate_id, desc=True, limit=1))
    assert snapshots[0].originator_version == SNAPSHOT_INTERVAL * 2
    # A new process (no aggregate cache) loads the snapshot plus the five events after it.
    with SchedulerApp(env=container.settings.eventstore_env()) as fresh:
        from_snapshot: Task = fresh.repository.get(task_id.aggregate_id)
    replayed = None
    for event in app.events.get(task_id.aggregate_id):
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Task)
    assert from_snapshot.version == replayed.version == edits + 1
    assert from_snapshot.spec == replayed.spec and from_snapshot.spec["command"] == f"echo {edits}"
    old: Task = app.repository.get(task_id.aggregate_id, version=150)
    assert old.spec["command"] == "echo 149"
