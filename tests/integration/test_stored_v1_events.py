"""Events stored by the first release (fixture) must still load, upcast and project.

`tests/fixtures/events_v1.jsonl` was written by the code of commit 9787c2a (a mixed workload:
tasks edited, paused, renamed and deleted; runs succeeded, retried, failed, timed out,
cancelled, skipped and requeued; workers lost and drained). Never regenerate it: add a new
fixture for a new shape instead, and keep this one loading.
"""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.task import Task
from domain.task_run import RunStatus, TaskRun
from entrypoints.bootstrap import Container
from projections.queries import ReadModel

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "events_v1.jsonl"


def load_fixture(container: Container) -> list[dict]:
    rows = [json.loads(line) for line in FIXTURE.read_text().splitlines()]
    container.app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=UUID(r["originator_id"]),
                originator_version=r["originator_version"],
                topic=r["topic"],
                state=r["state"].encode(),
            )
            for r in rows
        ]
    )
    for runner in container.runners:
        runner.catch_up()
    return rows


def test_every_v1_aggregate_loads_and_old_shapes_are_upcast(container: Container) -> None:
    rows = load_fixture(container)
    ids = {UUID(r["originator_id"]) for r in rows}
    aggregates = {i: container.app.repository.get(i) for i in ids}
    tasks = [a for a in aggregates.values() if isinstance(a, Task)]
    assert sorted((t.name, t.status) for t in tasks) == [("etl", "active"), ("gone", "deleted")]
    etl = next(t for t in tasks if t.name == "etl")
    assert etl.spec["interval_seconds"] is None and etl.spec["run_at"] is None  # upcast v1 -> v2
    assert etl.definition.timezone == "Europe/Berlin"
    statuses = sorted(a.status for a in aggregates.values() if isinstance(a, TaskRun))
    assert statuses == sorted(
        [
            RunStatus.SUCCEEDED,
            RunStatus.FAILED,
            RunStatus.TIMED_OUT,
            RunStatus.CANCELLED,
            RunStatus.SKIPPED,
            RunStatus.PENDING,  # requeued after its worker was lost
            RunStatus.PENDING,  # the cron fire
        ]
    )
    created = next(iter(container.app.events.get(etl.id)))
    assert created.spec["run_at"] is None


def test_v1_events_project_into_every_read_table(container: Container) -> None:
    rows = load_fixture(container)
    head = max(r["position"] for r in rows)
    read = ReadModel(container.database)
    task = read.task_by_name("etl")
    assert task is not None and (task["id"], task["priority"], task["version"]) == (1, "high", 4)
    assert task["last_misfire"]["count"] == 2
    runs, total = read.list_runs(task_uuid=UUID(task["uuid"]), status=None, limit=50, offset=0)
    assert total == 7
    failed = next(r for r in runs if r["status"] == "failed")
    assert failed["exit_code"] == 4 and failed["attempt"] == 2
    attempts = read.run(UUID(failed["id"]))["attempts"]
    assert [(a["attempt"], a["status"], a["exit_code"]) for a in attempts] == [
        (1, "failed", 3),
        (2, "failed", 4),
    ]
    workers = {w["name"]: w["status"] for w in read.list_workers(status=None)}
    assert workers == {"w1": "lost", "w2": "gone"}
    stats = read.task_stats(UUID(task["uuid"]))
    assert stats["runs_total"] == 7
    assert all(r.position() == head for r in container.runners)


def test_v1_starts_and_time_outs_load_without_the_fields_added_later(
    container: Container,
) -> None:
    rows = load_fixture(container)
    runs = {UUID(r["originator_id"]) for r in rows if r["topic"] == "scheduler:TaskRun.Started"}
    runs |= {UUID(r["originator_id"]) for r in rows if r["topic"] == "scheduler:TaskRun.TimedOut"}
    read = ReadModel(container.database)
    seen = []
    for run_id in runs:
        for event in container.app.events.get(run_id):
            seen.append(type(event).__name__)
            if isinstance(event, TaskRun.Started):
                assert (event.hostname, event.started_at) == (None, None)  # upcast v1 -> v2
                assert read.run(run_id)["started_at"] == event.timestamp
            if isinstance(event, TaskRun.TimedOut):
                assert (event.exit_code, event.duration_seconds, event.output) == (None,) * 3
    assert (seen.count("Started"), seen.count("TimedOut")) == (1, 1)
