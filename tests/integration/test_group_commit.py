"""Group commit on the real stores: concurrent commands share transactions, each saved once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable

from domain.context import CommandContext
from domain.task_run import TaskRun
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container

COMMANDS = 24


def concurrently(count: int, command: Callable[[int], object]) -> list[object]:
    """Run `command(i)` in `count` threads released together; their results or errors."""
    barrier = threading.Barrier(count)
    outcomes: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = command(i)
        except Exception as error:  # kept for the assertions
            outcomes[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def transactions_of(container: Container, run_ids: list[uuid.UUID]) -> int | None:
    """PostgreSQL's own count: the distinct inserting transactions (xmin) of the runs' rows."""
    if container.settings.database_kind != "postgres":
        return None
    row = container.database.one(
        "SELECT count(DISTINCT xmin::text) AS n FROM scheduler_events"
        " WHERE originator_id = ANY(%(ids)s)",
        {"ids": run_ids},
    )
    assert row is not None
    return int(row["n"])


def test_concurrent_triggers_share_transactions_and_a_raced_key_costs_only_its_own_save(
    container: Container,
) -> None:
    app = container.app
    ctx = CommandContext("tester", container.clock.now(), uuid.uuid4())
    task_id = app.create_task(validate_spec({"name": "busy", "command": "true"}), ctx).aggregate_id
    before = app.group_commit.transactions
    # Every fourth command races the others for one idempotency key: one of them saves the
    # run; the others' saves conflict, are retried alone, and answer with that run.
    keys = ["raced" if i % 4 == 0 else None for i in range(COMMANDS)]
    results = concurrently(
        COMMANDS, lambda i: app.trigger_task(task_id, ctx, idempotency_key=keys[i])
    )

    assert not [r for r in results if isinstance(r, Exception)], results
    raced = TaskRun.idempotent_id(task_id, "raced")
    ids = [r.aggregate_id for r in results]  # type: ignore[union-attr]
    assert {ids[i] for i in range(0, COMMANDS, 4)} == {raced}
    assert len(set(ids)) == COMMANDS - COMMANDS // 4 + 1
    assert sum(r.created for r in results) == len(set(ids))  # type: ignore[union-attr]
    # Every run's Requested event saved once: one row at version 1 per run, nothing more.
    for run_id in set(ids):
        assert [e.originator_version for e in app.events.get(run_id)] == [1]
    transactions = app.group_commit.transactions - before
    assert transactions < COMMANDS, f"{transactions} transactions for {COMMANDS} commands"
    counted = transactions_of(container, sorted(set(ids)))
    assert counted is None or counted < len(set(ids)), counted


def test_a_conflicting_command_fails_alone_while_the_others_of_its_write_succeed(
    container: Container,
) -> None:
    app = container.app
    ctx = CommandContext("tester", container.clock.now(), uuid.uuid4())
    task_id = app.create_task(
        validate_spec({"name": "edited", "command": "true"}), ctx
    ).aggregate_id
    # Two stale copies of one task, edited in two commands; the others trigger runs.
    copies = [app.get_task(task_id), app.get_task(task_id)]

    def command(i: int) -> object:
        if i < 2:
            copies[i].update({"description": f"copy {i}"}, ctx)
            return app.save(copies[i])
        return app.trigger_task(task_id, ctx)

    results = concurrently(COMMANDS, command)

    errors = [r for r in results if isinstance(r, Exception)]
    assert [type(e).__name__ for e in errors] == ["IntegrityError"], results
    assert len(list(app.events.get(task_id))) == 2, "one of the two edits, once"
    runs = [r.aggregate_id for r in results[2:]]  # type: ignore[union-attr]
    assert len(set(runs)) == COMMANDS - 2
    assert all(len(list(app.events.get(run_id))) == 1 for run_id in runs)
