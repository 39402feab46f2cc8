"""The joint projector: one batch of the log, every projection, one transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from application.ports import Wakeup
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container, all_projections, build_container
from entrypoints.settings import load_settings
from projections.joint import JointProjector
from projections.runner import ProjectionRunner
from projections.tracking import ProjectionConflictError, advance_positions, lock_position
from tests import poison
from tests.integration.test_projection_batches import CountedDatabase
from tests.integration.test_projection_rebuild import ctx, rebuild, workload
from tests.servers import fresh_postgres_database


def create_tasks(container: Container, count: int) -> None:
    """`count` more tasks, each with a name of its own."""
    for _ in range(count):
        spec = validate_spec({"name": f"t-{uuid.uuid4().hex[:12]}", "command": "true"})
        container.app.create_task(spec, ctx(container))


def joint_on(
    container: Container,
    database: CountedDatabase,
    batch_size: int = 1_000,
    names: tuple[str, ...] = (),
) -> JointProjector:
    """Runners of every projection (or the named ones) on `database`, following together."""
    runners = [
        ProjectionRunner(
            projection,
            container.app,
            database,
            wakeup=Wakeup(),
            committed=container.committed,
            batch_size=batch_size,
            aggregate_log=container.aggregate_log,
            announce=database.announced.append,
        )
        for projection in all_projections()
        if not names or projection.name in names
    ]
    return JointProjector(
        runners,
        container.app,
        database,
        wakeup=Wakeup(),
        committed=container.committed,
        batch_size=batch_size,
    )


class AnnouncedDatabase(CountedDatabase):
    """Counts transactions, and the announcements made inside them."""

    def __init__(self, container: Container) -> None:
        super().__init__(container.database)
        self.announced: list[object] = []


def positions(joint: JointProjector) -> dict[str, int]:
    return {runner.name: runner.position() for runner in joint.runners}


def test_a_batch_is_one_pipelined_transaction_for_every_projection(container: Container) -> None:
    create_tasks(container, 40)
    database = AnnouncedDatabase(container)
    joint = joint_on(container, database)
    assert joint.run_once() > 0  # the first batch also clears each runner's stale error
    create_tasks(container, 10)
    database.opened.clear()
    database.announced.clear()
    rung = container.committed.generation()
    assert joint.run_once() > 0
    head = container.app.head_position()
    assert database.opened == Counter({"pipelined": 1})  # all seven, no per-projection commit
    assert set(positions(joint).values()) == {head}
    assert len(database.announced) == 1  # one NOTIFY for every view's waiters
    assert container.committed.generation() == rung + 1  # woken once, after the commit
    assert container.waiter.reached(head, [r.name for r in joint.runners])
    indexed = container.database.one("SELECT count(*) AS n FROM event_index")
    assert indexed == {"n": head}
    assert joint.run_once() == 0 and joint.commits == 2


def test_small_batches_index_every_event_with_its_task_as_a_rebuild_does(
    container: Container,
) -> None:
    workload(container)  # runs requested, then assigned, started, done in later batches
    joint = joint_on(container, AnnouncedDatabase(container), batch_size=5)
    assert joint.catch_up() == container.app.head_position()
    rows = container.database.query(
        "SELECT e.task_id, r.task_uuid FROM event_index e JOIN runs r"
        " ON e.aggregate_id = CAST(r.id AS text)"
    )
    assert rows and all(row["task_id"] == str(row["task_uuid"]) for row in rows)
    # The rebuild indexes the log in one page: the other path to each run's task.
    assert rebuild(container, switch=False, verify=True).differing_rows == 0


def test_a_poison_event_holds_only_its_aggregate_in_a_joint_batch(container: Container) -> None:
    healthy = container.app.create_task(
        validate_spec({"name": "healthy", "command": "true"}), ctx(container)
    ).aggregate_id
    broken = poison.undecodable_state(container.app)  # a run request no view can read
    after = container.app.trigger_task(healthy, ctx(container)).aggregate_id
    database = AnnouncedDatabase(container)
    joint = joint_on(container, database)
    joint.catch_up()
    # The pipelined try failed; the careful redo (a savepoint per event) committed.
    assert database.opened["pipelined"] == 1
    assert joint.commits == 1
    held = {(e.consumer, e.aggregate_id) for e in container.quarantine.entries()}
    assert ("projection:runs", str(broken)) in held
    assert {aggregate for _consumer, aggregate in held} == {str(broken)}
    assert container.database.one("SELECT id FROM runs WHERE id = %(id)s", {"id": after})
    assert set(positions(joint).values()) == {container.app.head_position()}


def test_a_projection_behind_catches_up_alone_then_joins_the_others(
    container: Container,
) -> None:
    create_tasks(container, 6)
    database = AnnouncedDatabase(container)
    others = [p.name for p in all_projections() if p.name != "tasks"]
    joint_on(container, database, names=tuple(others)).catch_up()
    create_tasks(container, 1)  # the others are one task behind now, tasks far behind
    joint = joint_on(container, database, batch_size=3)
    head = container.app.head_position()
    joint.catch_up()
    assert set(positions(joint).values()) == {head}
    total = container.database.one("SELECT count(*) AS n FROM tasks")
    assert total == {"n": 7}
    commits = joint.commits
    create_tasks(container, 1)
    assert joint.run_once() > 0
    assert joint.commits == commits + 1  # together again: one transaction for all seven
    assert set(positions(joint).values()) == {container.app.head_position()}


@pytest.fixture
def postgres_container() -> Iterator[Container]:
    """A container on a fresh PostgreSQL database (row locks and leases are PostgreSQL's)."""
    with fresh_postgres_database() as url:
        built = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
        try:
            yield built
        finally:
            built.close()


def test_a_projection_whose_row_a_switch_holds_sits_the_batch_out(
    postgres_container: Container,
) -> None:
    container = postgres_container
    create_tasks(container, 3)
    joint = joint_on(container, AnnouncedDatabase(container))
    joint.catch_up()
    before = joint.runners[0].position()
    create_tasks(container, 2)
    held_name = joint.runners[0].name
    with container.database.transaction() as tx:
        lock_position(tx, container.database, held_name)  # as a rebuild's switch does
        assert joint.run_once() > 0
        moved = positions(joint)
    head = container.app.head_position()
    assert moved.pop(held_name) == before
    assert set(moved.values()) == {head}
    joint.catch_up()
    assert set(positions(joint).values()) == {head}


def test_a_projection_whose_lease_another_process_holds_is_left_to_it(
    postgres_container: Container,
) -> None:
    container = postgres_container
    url = container.settings.database.url
    other = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
    try:
        taken = next(r for r in other.runners if r.name == "tasks")
        assert taken.hold_lease()
        create_tasks(container, 2)
        mine = {r.name: r for r in container.runners if r.name in {"tasks", "runs"}}
        joint = JointProjector(
            list(mine.values()),
            container.app,
            container.database,
            wakeup=Wakeup(),
            committed=Wakeup(),
            lease_retry=0,
        )
        joint.catch_up()
        head = container.app.head_position()
        assert mine["tasks"].status.waiting_for_lease and mine["tasks"].position() == 0
        assert mine["runs"].position() == head
        assert taken.lease is not None
        taken.lease.release()  # the other process stops: the lease is free to take
        joint.catch_up()
        assert not mine["tasks"].status.waiting_for_lease and mine["tasks"].position() == head
    finally:
        other.close()


def test_a_projection_that_keeps_failing_does_not_hold_the_others_back(
    container: Container,
) -> None:
    workload(container, runs=3)  # assignments and outcomes: workers events
    joint = joint_on(container, AnnouncedDatabase(container))
    with container.database.transaction() as tx:
        tx.execute("ALTER TABLE worker_runs RENAME TO worker_runs_away")
    try:
        joint.run_once()
        state = {runner.name: runner for runner in joint.runners}
        head = container.app.head_position()
        assert state["workers"].position() < head
        assert "worker_runs" in (state["workers"].status.last_error or "")
        assert all(r.position() == head for n, r in state.items() if n != "workers")
    finally:
        with container.database.transaction() as tx:
            tx.execute("ALTER TABLE worker_runs_away RENAME TO worker_runs")
    joint.catch_up()
    assert set(positions(joint).values()) == {container.app.head_position()}
    assert state["workers"].status.last_error is None


def test_positions_move_together_or_not_at_all(container: Container) -> None:
    create_tasks(container, 2)
    joint = joint_on(container, AnnouncedDatabase(container))
    joint.catch_up()
    head = container.app.head_position()
    with pytest.raises(ProjectionConflictError), container.database.pipelined() as tx:
        tx.execute(
            "UPDATE projection_tracking SET position = %(p)s WHERE projection = 'runs'",
            {"p": head - 1},
        )  # as if a twin had moved it
        advance_positions(tx, ["tasks", "runs"], head, head + 1, datetime.now(UTC))
    assert set(positions(joint).values()) == {head}  # the transaction rolled back whole
