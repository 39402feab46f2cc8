"""One contract for the event store and every view, run on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from application.messages import Report
from domain.context import CommandContext
from domain.errors import TaskNameTakenError
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container, all_projections
from projections.queries import ReadModel
from projections.runner import ProjectionRunner


def ctx_of(container: Container) -> CommandContext:
    return CommandContext("tester", container.clock.now(), uuid.uuid4())


def catch_up(container: Container) -> None:
    for runner in container.runners:
        runner.catch_up()


def register_worker(container: Container, ctx: CommandContext) -> uuid.UUID:
    """A shell worker with two slots on the default queue."""
    worker_id = uuid.uuid4()
    container.app.register_worker_once(worker_id, {"name": "w", "max_concurrent_tasks": 2}, ctx)
    return worker_id


def spec(name: str, **fields: object) -> object:
    return validate_spec({"name": name, "command": "true", **fields})


def test_tasks_are_numbered_in_creation_order(container: Container) -> None:
    ctx = ctx_of(container)
    ids = [container.app.create_task(spec(f"t{i}"), ctx).aggregate_id for i in range(3)]
    catch_up(container)
    read = ReadModel(container.database)
    assert [read.task_by_uuid(i)["id"] for i in ids] == [1, 2, 3]
    assert read.task_by_number(2)["name"] == "t1"


def test_task_views_follow_updates_pauses_and_deletes(container: Container) -> None:
    ctx = ctx_of(container)
    task_id = container.app.create_task(spec("etl", schedule="0 2 * * *"), ctx).aggregate_id
    container.app.update_task(task_id, {"priority": "high", "name": "etl2"}, ctx)
    container.app.pause_task(task_id, "maintenance", ctx)
    catch_up(container)
    task = ReadModel(container.database).task_by_name("etl2")
    assert (task["priority"], task["status"], task["pause_reason"]) == (
        "high",
        "paused",
        "maintenance",
    )
    assert task["version"] == 3 and task["next_fire_at"] is None
    container.app.resume_task(task_id, ctx)
    catch_up(container)
    resumed = ReadModel(container.database).task_by_uuid(task_id)
    assert resumed["status"] == "active" and resumed["next_fire_at"] is not None
    container.app.delete_task(task_id, "gone", ctx)
    catch_up(container)
    items, total = ReadModel(container.database).list_tasks(
        status=None, name=None, limit=10, offset=0
    )
    assert total == 0 and items == []


def test_next_fire_at_moves_on_as_slots_fire_or_are_missed(container: Container) -> None:
    ctx = ctx_of(container)
    task_id = container.app.create_task(spec("tick", interval_seconds=60), ctx).aggregate_id
    catch_up(container)
    read = ReadModel(container.database)
    first = read.task_by_uuid(task_id)["next_fire_at"]
    assert first is not None and first.second == 0 and first > ctx.now
    container.app.fire_cron([(task_id, first)], [], "dispatcher", first)
    catch_up(container)
    assert read.task_by_uuid(task_id)["next_fire_at"] == first + timedelta(seconds=60)
    later = first + timedelta(minutes=10)
    container.app.fire_cron([], [(task_id, first, later, 10, "misfire")], "dispatcher", later)
    catch_up(container)
    task = read.task_by_uuid(task_id)
    assert task["next_fire_at"] == later + timedelta(seconds=60)
    assert (task["last_misfire"]["count"], task["last_misfire"]["reason"]) == (10, "misfire")


def test_list_filters_by_status_and_name_substring(container: Container) -> None:
    ctx = ctx_of(container)
    for name in ("data_processing", "data%odd", "report"):
        container.app.create_task(spec(name), ctx)
    catch_up(container)
    read = ReadModel(container.database)
    names = [t["name"] for t in read.list_tasks(status=None, name="DATA_", limit=10, offset=0)[0]]
    assert names == ["data_processing"]
    page, total = read.list_tasks(status="active", name=None, limit=2, offset=2)
    assert total == 3 and [t["name"] for t in page] == ["report"]


def test_the_worker_list_filters_by_status_and_counts_follow_it(container: Container) -> None:
    ctx = ctx_of(container)
    first, second = register_worker(container, ctx), register_worker(container, ctx)
    container.app.drain_worker(second, "maintenance", ctx)
    catch_up(container)
    read = ReadModel(container.database)
    # Both registered at the same clock reading: the order between them is not defined.
    assert {w["id"] for w in read.list_workers(status=None)} == {str(first), str(second)}
    assert [w["id"] for w in read.list_workers(status="draining")] == [str(second)]
    assert read.counts()["workers"] == {"active": 1, "draining": 1}


def test_runs_workers_and_stats_follow_a_run_to_its_end(container: Container) -> None:
    ctx = ctx_of(container)
    app = container.app
    worker = register_worker(container, ctx)
    task_id = app.create_task(spec("job"), ctx).aggregate_id
    ok, bad = (app.trigger_task(task_id, ctx).aggregate_id for _ in range(2))
    app.assign_runs([(ok, worker), (bad, worker)], "dispatcher", ctx.now)
    catch_up(container)
    read = ReadModel(container.database)
    assert read.worker(worker)["running"] == 2
    app.record_reports(
        [
            Report("started", ok, 1, worker, pid=10),
            Report("succeeded", ok, 1, worker, exit_code=0, duration_seconds=2.0, output="hi\n"),
            Report("failed", bad, 1, worker, exit_code=3, error="exited with code 3"),
        ],
        ctx.now,
    )
    catch_up(container)
    assert read.worker(worker)["running"] == 0
    done = read.run(ok)
    assert (done["status"], done["exit_code"], done["output"], done["task_id"]) == (
        "succeeded",
        0,
        "hi\n",
        1,
    )
    assert read.run(bad)["error"] == "exited with code 3"
    stats = read.task_stats(task_id)
    assert (stats["runs_total"], stats["runs_succeeded"], stats["runs_failed"]) == (2, 1, 1)
    assert stats["max_duration_seconds"] == 2.0
    runs, total = read.list_runs(task_uuid=task_id, status="failed", limit=10, offset=0)
    assert total == 1 and runs[0]["id"] == str(bad)


def test_each_attempt_of_a_retried_run_is_kept_with_its_exit_code(container: Container) -> None:
    ctx = ctx_of(container)
    app = container.app
    worker = register_worker(container, ctx)
    task_id = app.create_task(spec("flaky", retry_count=1, retry_delay_seconds=0), ctx)
    run = app.trigger_task(task_id.aggregate_id, ctx).aggregate_id
    app.assign_runs([(run, worker)], "dispatcher", ctx.now)
    app.record_reports([Report("failed", run, 1, worker, exit_code=3, error="exit 3")], ctx.now)
    app.assign_runs([(run, worker)], "dispatcher", ctx.now)
    app.record_reports([Report("succeeded", run, 2, worker, exit_code=0)], ctx.now)
    catch_up(container)
    attempts = ReadModel(container.database).run(run)["attempts"]
    assert [(a["attempt"], a["status"], a["exit_code"]) for a in attempts] == [
        (1, "failed", 3),
        (2, "succeeded", 0),
    ]
    assert attempts[0]["error"] == "exit 3" and attempts[1]["worker_id"] == str(worker)


def test_a_duplicate_name_is_refused_by_the_store(container: Container) -> None:
    ctx = ctx_of(container)
    container.app.create_task(spec("unique"), ctx)
    with pytest.raises(TaskNameTakenError):
        container.app.create_task(spec("unique"), ctx)


def test_projections_apply_hundreds_of_events_per_transaction(container: Container) -> None:
    ctx = ctx_of(container)
    for i in range(120):
        container.app.create_task(spec(f"bulk-{i}"), ctx)
    runner = container.runners[0]
    assert runner.run_once() == min(240, container.settings.projections.batch_size)


def test_a_rebuilt_projection_equals_the_live_one(container: Container) -> None:
    ctx = ctx_of(container)
    for i in range(5):
        task_id = container.app.create_task(spec(f"r{i}"), ctx).aggregate_id
        container.app.trigger_task(task_id, ctx)
    catch_up(container)
    before = container.database.query(
        "SELECT uuid, number, name, version FROM tasks ORDER BY number"
    )
    with container.database.transaction() as tx:
        tx.execute("DELETE FROM tasks")
        tx.execute("DELETE FROM projection_tracking WHERE projection = 'tasks'")
    tasks_projection = all_projections()[0]
    ProjectionRunner(
        tasks_projection,
        container.app,
        container.database,
        wakeup=container.log_wakeup,
        committed=container.committed,
    ).catch_up()
    after = container.database.query(
        "SELECT uuid, number, name, version FROM tasks ORDER BY number"
    )
    assert after == before


def test_two_runners_of_one_projection_never_apply_an_event_twice(container: Container) -> None:
    ctx = ctx_of(container)
    worker_runs = []
    for i in range(3):
        task_id = container.app.create_task(spec(f"x{i}"), ctx).aggregate_id
        worker_runs.append(container.app.trigger_task(task_id, ctx).aggregate_id)
    stats_runner = container.runners[3]
    twin = ProjectionRunner(
        all_projections()[3],
        container.app,
        container.database,
        wakeup=container.log_wakeup,
        committed=container.committed,
    )
    stats_runner.catch_up()
    assert twin.catch_up() == 0  # reads the shared position, so nothing is left to apply
    rows = container.database.query("SELECT runs_total FROM task_run_stats")
    assert sorted(r["runs_total"] for r in rows) == [1, 1, 1]
