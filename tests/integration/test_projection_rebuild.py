"""Rebuilding projections into shadow tables and swapping them in, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from application.messages import Report
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import (
    Container,
    all_projections,
    build_container,
    open_session,
    projection_lease,
    rebuild_job,
)
from entrypoints.settings import load_settings
from projections.rebuild import Progress, RebuildResult
from projections.runner import ProjectionRunner, RunnerSupervisor
from projections.status import read_states
from tests.servers import fresh_postgres_database

READ_TABLES = [table for projection in all_projections() for table in projection.tables]


def ctx(container: Container) -> CommandContext:
    return CommandContext("tester", container.clock.now(), uuid.uuid4())


def catch_up(container: Container) -> None:
    for runner in container.runners:
        runner.catch_up()


def snapshot(container: Container) -> dict[str, list[dict[str, Any]]]:
    """Every read table's rows in a stable order."""
    return {
        table: container.database.query(f"SELECT * FROM {table} ORDER BY 1, 2")
        for table in READ_TABLES
    }


def workload(container: Container, runs: int = 12) -> None:
    """Tasks created, updated, paused, resumed, deleted; runs assigned, done, retried, lost."""
    app, now = container.app, container.clock.now()

    def worker(name: str) -> Any:
        worker_id = uuid.uuid4()
        profile = {"name": name, "max_concurrent_tasks": 10}
        app.register_worker_once(worker_id, profile, ctx(container))
        return worker_id

    steady, doomed = worker("steady"), worker("doomed")
    spec = {"command": "true", "retry_count": 1, "retry_delay_seconds": 0}
    tasks = [
        app.create_task(validate_spec({"name": f"job-{i}", **spec}), ctx(container)).aggregate_id
        for i in range(4)
    ]
    app.update_task(tasks[0], {"priority": "high", "name": "job-renamed"}, ctx(container))
    app.pause_task(tasks[1], "maintenance", ctx(container))
    app.resume_task(tasks[1], ctx(container))
    app.delete_task(tasks[3], "obsolete", ctx(container))
    run_ids = [app.trigger_task(tasks[i % 3], ctx(container)).aggregate_id for i in range(runs)]
    app.assign_runs([(r, steady) for r in run_ids[:-2]], "dispatcher", now)
    app.assign_runs([(r, doomed) for r in run_ids[-2:]], "dispatcher", now)
    reports = []
    for i, run_id in enumerate(run_ids[:-2]):
        reports.append(Report("started", run_id, 1, steady, pid=100 + i))
        if i % 3 == 0:
            reports.append(Report("failed", run_id, 1, steady, exit_code=2, error="exit 2"))
        else:
            reports.append(
                Report("succeeded", run_id, 1, steady, exit_code=0, duration_seconds=0.25 * i)
            )
    app.record_reports(reports, now)
    retried = [r for i, r in enumerate(run_ids[:-2]) if i % 3 == 0]
    app.assign_runs([(r, steady) for r in retried], "dispatcher", now)
    app.record_reports(
        [Report("failed", r, 2, steady, exit_code=3, error="exit 3") for r in retried], now
    )
    app.recover_workers([(doomed, run_ids[-2:])], 3, "dispatcher", now)


def rebuild(
    container: Container,
    *,
    switch: bool = True,
    verify: bool = False,
    names: tuple[str, ...] = (),
    on_progress: Callable[[Progress], None] = lambda _progress: None,
    **options: Any,
) -> RebuildResult:
    """What `scheduler projections rebuild` does, on the container's store."""
    chosen = [p for p in all_projections() if not names or p.name in names]
    with rebuild_job(
        container.app,
        container.database,
        chosen,
        options.pop("batch_size", 7),
        on_progress,
        env=options.pop("env", None),
    ) as job:
        for key, value in options.items():
            setattr(job, key, value)
        return job.run(switch=switch, verify=verify)


def test_a_rebuild_equals_the_live_tables_after_a_mixed_workload(container: Container) -> None:
    workload(container)
    catch_up(container)
    before = snapshot(container)
    env = container.settings.eventstore_env()  # on PostgreSQL: bulk in parallel processes
    result = rebuild(container, verify=True, env=env)
    assert result.differences == [] and result.differing_rows == 0
    assert snapshot(container) == before
    head = container.app.head_position()
    assert result.positions == {p.name: head for p in all_projections()}
    assert all(runner.catch_up() == 0 for runner in container.runners)


def test_the_shadows_fill_page_by_page_when_no_bulk_path_is_used(container: Container) -> None:
    workload(container, runs=6)
    catch_up(container)
    before = snapshot(container)
    result = rebuild(container, verify=True, bulk=None, final_step=0, batch_size=3)
    assert result.differing_rows == 0 and snapshot(container) == before


def test_events_the_live_runners_applied_during_the_rebuild_are_not_lost(
    container: Container,
) -> None:
    workload(container)
    catch_up(container)
    seen = container.app.head_position()

    def write_and_project(_progress: Progress) -> None:
        if container.app.head_position() == seen:  # once: the live tables move ahead
            container.app.create_task(
                validate_spec({"name": "late", "command": "true"}), ctx(container)
            )
            catch_up(container)

    # The shadows fill only up to the head seen before: the switch applies the rest.
    result = rebuild(container, on_progress=write_and_project, head=lambda: seen, final_step=0)
    head = container.app.head_position()
    assert head > seen and result.positions["tasks"] == head
    assert [r.catch_up() for r in container.runners] == [0] * len(container.runners)
    assert container.database.one("SELECT number FROM tasks WHERE name = 'late'") == {"number": 5}
    assert rebuild(container, switch=False, verify=True).differing_rows == 0


def test_events_the_live_runners_had_not_applied_are_applied_once(container: Container) -> None:
    workload(container)
    catch_up(container)
    task = container.app.create_task(
        validate_spec({"name": "behind", "command": "true"}), ctx(container)
    )
    for _ in range(3):
        container.app.trigger_task(task.aggregate_id, ctx(container))
    result = rebuild(container, final_step=0, verify=True)  # shadows ahead of live tables
    assert result.differing_rows == 0
    head = container.app.head_position()
    assert set(result.positions.values()) == {head}
    assert [r.catch_up() for r in container.runners] == [0] * len(container.runners)
    stats = container.database.query(
        "SELECT runs_total FROM task_run_stats WHERE task_uuid = %(t)s", {"t": task.aggregate_id}
    )
    assert stats == [{"runs_total": 3}]


def test_a_rebuild_under_concurrent_commands_and_running_runners_loses_nothing(
    container: Container,
) -> None:
    workload(container)
    container.start_projections()
    task_id = container.app.create_task(
        validate_spec({"name": "busy", "command": "true"}), ctx(container)
    )
    stop, triggered = threading.Event(), []

    def keep_triggering() -> None:
        while not stop.is_set():
            triggered.append(container.app.trigger_task(task_id.aggregate_id, ctx(container)))
            time.sleep(0.002)

    writer = threading.Thread(target=keep_triggering)
    writer.start()
    try:
        for _ in range(3):
            rebuild(container, batch_size=50, final_step=20)
    finally:
        stop.set()
        writer.join()
    head = container.app.head_position()
    assert container.waiter.wait(head, container.projection_names, timeout=10)
    rows = container.database.query("SELECT COUNT(*) AS n FROM runs WHERE task_name = 'busy'")
    assert rows[0]["n"] == len(triggered) > 0
    stats = container.database.query("SELECT SUM(runs_total) AS n FROM task_run_stats")
    assert stats[0]["n"] == len(triggered) + 12
    assert rebuild(container, switch=False, verify=True).differing_rows == 0


def test_verify_names_the_rows_that_differ_and_a_dry_run_changes_nothing(
    container: Container,
) -> None:
    workload(container, runs=4)
    catch_up(container)
    with container.database.transaction() as tx:
        tx.execute("UPDATE tasks SET priority = 'low' WHERE number = 2")
        tx.execute("DELETE FROM run_attempts")
    result = rebuild(container, switch=False, verify=True)
    described = [d.describe() for d in result.differences]
    assert result.differing_rows == len(described) > 1
    assert any(d.startswith("tasks (uuid=") and "priority: live 'low'" in d for d in described)
    assert any(d.startswith("run_attempts (") and "missing from the live" in d for d in described)
    assert container.database.one("SELECT priority FROM tasks WHERE number = 2") == {
        "priority": "low"
    }
    rebuild(container)  # the swap repairs the live tables
    assert rebuild(container, switch=False, verify=True).differing_rows == 0


def test_a_rebuild_keeps_the_index_names_so_it_can_run_again(container: Container) -> None:
    def indexes() -> list[str]:
        if container.database.dialect == "postgres":
            sql = "SELECT indexname AS name FROM pg_indexes WHERE schemaname = current_schema()"
        else:
            sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
        return sorted(r["name"] for r in container.database.query(sql))

    workload(container, runs=2)
    catch_up(container)
    before = indexes()
    rebuild(container, names=("runs",))
    rebuild(container, names=("runs",))
    assert indexes() == before
    assert not [name for name in before if "__" in name]


def test_a_failing_batch_is_recorded_for_every_process_and_cleared_after(
    container: Container,
) -> None:
    runner = container.runners[2]  # workers
    with container.database.transaction() as tx:
        tx.execute("ALTER TABLE workers RENAME TO workers_away")
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,))
    thread.start()
    try:
        container.app.register_worker_once(uuid.uuid4(), {"name": "w"}, ctx(container))
        container.log_wakeup.ring()
        state = wait_for_state(container, "workers", lambda s: s.last_error is not None)
        assert "workers" in (state.last_error or "") and state.lag and state.lag > 0
        assert state.problem(state.last_error_at or container.clock.now()) is not None
        with container.database.transaction() as tx:
            tx.execute("ALTER TABLE workers_away RENAME TO workers")
        state = wait_for_state(container, "workers", lambda s: s.last_error is None, 40)
        assert state.lag == 0
    finally:
        stop.set()
        container.log_wakeup.ring()
        thread.join(10)


def wait_for_state(
    container: Container, name: str, check: Callable[[Any], bool], timeout: float = 10
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        state = next(
            s
            for s in read_states(container.database, container.app, all_projections())
            if s.name == name
        )
        if check(state) or time.monotonic() > deadline:
            assert check(state), state
            return state
        time.sleep(0.05)


def until(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class CrashingOnceRunner(ProjectionRunner):
    """A runner whose thread dies on its first start, as a bug would kill it."""

    starts = 0

    def run_forever(self, stop: threading.Event) -> None:
        self.starts += 1
        if self.starts == 1:
            raise RuntimeError("boom")
        super().run_forever(stop)


def test_a_runner_thread_that_dies_is_restarted(container: Container) -> None:
    live = container.runners[0]
    runner = CrashingOnceRunner(
        live.projection,
        container.app,
        container.database,
        wakeup=container.log_wakeup,
        committed=container.committed,
    )
    supervisor = RunnerSupervisor([runner], container.start_thread, min_backoff=0.05)
    supervisor._check = 0.02
    container.start_thread("supervisor", supervisor.run, container.stop)
    created = container.app.create_task(
        validate_spec({"name": "after-crash", "command": "true"}), ctx(container)
    )
    assert container.waiter.wait(created.position, ["tasks"], timeout=10)
    assert supervisor.restarts == {"tasks": 1} and runner.starts == 2


@pytest.fixture
def postgres_container() -> Iterator[Container]:
    """A container on a fresh PostgreSQL database only (SQLite has one projecting process)."""
    with fresh_postgres_database() as url:
        built = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
        try:
            yield built
        finally:
            built.close()


def test_on_postgresql_one_process_at_a_time_runs_a_projection(
    postgres_container: Container,
) -> None:
    container = postgres_container
    # A session of its own stands in for another process.
    session = open_session(container.settings, "scheduler-test-elsewhere")
    elsewhere, other = projection_lease(session, "tasks"), projection_lease(session, "runs")
    waiting = ProjectionRunner(
        all_projections()[0],
        container.app,
        container.database,
        wakeup=container.log_wakeup,
        committed=container.committed,
        lease=projection_lease(container.session, "tasks"),
        lease_retry=0.05,
    )
    stop = threading.Event()
    thread = threading.Thread(target=waiting.run_forever, args=(stop,))
    try:
        assert elsewhere.acquire() and other.acquire()  # another process runs "tasks"
        container.app.create_task(validate_spec({"name": "t", "command": "true"}), ctx(container))
        thread.start()
        until(lambda: waiting.status.waiting_for_lease)
        assert waiting.position() == 0
        elsewhere.release()  # that process stops: this one takes over within a retry
        until(lambda: waiting.position() == container.app.head_position())
        assert not waiting.status.waiting_for_lease
    finally:
        stop.set()
        container.log_wakeup.ring()
        if thread.is_alive():
            thread.join(10)
        elsewhere.release()
        other.release()
        session.close()
