"""The what-if's facts on both stores: downtime from the log, pauses, when runs were running."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from application.messages import Report
from domain.context import CommandContext
from domain.task_run import TaskRun
from domain.task_spec import validate_spec
from entrypoints.api.what_if_facts import EARLIEST, gather_facts
from entrypoints.bootstrap import Container

PAST = datetime(2026, 1, 1, tzinfo=UTC)
MIN = timedelta(minutes=1)


def at(moment: datetime) -> CommandContext:
    return CommandContext("tester", moment, uuid.uuid4())


def test_downtime_pauses_and_running_runs_come_from_the_log_and_views(container: Container) -> None:
    app = container.app
    spec = validate_spec({"name": "tenth", "command": "true", "schedule": "*/10 * * * *"})
    task_id = app.create_task(spec, at(PAST)).aggregate_id
    other = app.create_task(validate_spec({"name": "other", "command": "true"}), at(PAST))
    # Another task's misfires show the dispatcher down from :05 to :08 ...
    misfire = (other.aggregate_id, PAST + 5 * MIN, PAST + 6 * MIN, 2, "misfire: skip policy")
    app.fire_cron([], [misfire], "dispatcher", PAST + 8 * MIN)
    # ... and this task's :10 slot, fired at :13, from :10 to :13; :20 on time.
    app.fire_cron([(task_id, PAST + 10 * MIN)], [], "dispatcher", PAST + 13 * MIN)
    app.fire_cron([(task_id, PAST + 20 * MIN)], [], "dispatcher", PAST + 20 * MIN)
    worker = app.register_worker(
        name="w",
        hostname="h",
        executors=["shell"],
        queues=["default"],
        labels={},
        max_concurrent_tasks=2,
        ctx=at(PAST),
    ).aggregate_id
    run_id = TaskRun.fire_id(task_id, PAST + 20 * MIN)
    app.assign_runs([(run_id, worker)], "dispatcher", PAST + 20 * MIN)
    started = Report("started", run_id, 1, worker, started_at=PAST + 21 * MIN, hostname="h")
    app.record_reports([started], PAST + 21 * MIN)
    app.record_reports([Report("succeeded", run_id, 1, worker, exit_code=0)], PAST + 27 * MIN)
    app.pause_task(task_id, "maintenance", at(PAST + 30 * MIN))
    app.resume_task(task_id, at(PAST + 45 * MIN))
    for runner in container.runners:
        runner.catch_up()

    facts = gather_facts(app, container.database, task_id, PAST, PAST + 60 * MIN, PAST + 90 * MIN)

    assert list(facts.downtime) == [
        (PAST + 5 * MIN, PAST + 8 * MIN),
        (PAST + 10 * MIN, PAST + 13 * MIN),
        (PAST + 30 * MIN, PAST + 90 * MIN),  # no dispatcher heard from within the hour
    ]
    assert facts.notes == ["no dispatcher was heard from in the last hour: counted as downtime"]
    assert list(facts.inactive) == [(EARLIEST, PAST), (PAST + 30 * MIN, PAST + 45 * MIN)]
    assert list(facts.busy) == [(PAST + 21 * MIN, PAST + 27 * MIN)]
