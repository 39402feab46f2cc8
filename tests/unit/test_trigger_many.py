"""Bulk trigger: many runs of one task in one save, idempotent per item."""

from __future__ import annotations

import pytest

from application.commands.app import SchedulerApp
from application.commands.runs import RunRequest
from domain.context import CommandContext
from domain.errors import InvalidFieldError
from domain.task_run import TaskRun
from tests.unit.conftest import make_spec


def count_saves(app: SchedulerApp) -> list[int]:
    """Spy on the recorder: the number of events of each insert (one insert = one save)."""
    inserts: list[int] = []
    insert = app.recorder.insert_events

    def counted(events, **kwargs):  # type: ignore[no-untyped-def]
        inserts.append(len(events))
        return insert(events, **kwargs)

    app.recorder.insert_events = counted  # type: ignore[method-assign]
    return inserts


def test_a_bulk_trigger_saves_every_run_in_one_save_in_item_order(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    inserts = count_saves(app)
    requests = [RunRequest({"N": str(i)}) for i in range(50)]
    results = app.trigger_many(task_id, ctx, requests)
    assert inserts == [50]
    assert [app.get_run(r.aggregate_id).params for r in results] == [r.params for r in requests]
    assert len({r.position for r in results}) == 1 and results[0].position is not None
    assert all(r.created for r in results)


def test_a_repeated_key_returns_the_existing_run_and_saves_only_the_new_ones(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    first = app.trigger_task(task_id, ctx, params={"A": "1"}, idempotency_key="k1")
    requests = [
        RunRequest({"A": "1"}, "k1"),
        RunRequest({}, "k2"),
        RunRequest({}, "k2"),
        RunRequest({}),
    ]
    results = app.trigger_many(task_id, ctx, requests)
    ids = [r.aggregate_id for r in results]
    assert ids[0] == first.aggregate_id
    assert ids[1] == ids[2] == TaskRun.idempotent_id(task_id, "k2")
    assert [r.created for r in results] == [False, True, False, True]
    again = app.trigger_many(task_id, ctx, requests[:3])
    assert [r.aggregate_id for r in again] == ids[:3]
    assert not any(r.created for r in again)


def test_a_key_reused_with_other_params_refuses_the_whole_batch_naming_the_item(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    app.trigger_task(task_id, ctx, params={"A": "1"}, idempotency_key="k1")
    head = app.head_position()
    with pytest.raises(InvalidFieldError) as error:
        app.trigger_many(task_id, ctx, [RunRequest({}), RunRequest({"A": "2"}, "k1")])
    assert error.value.field == "runs[1].idempotency_key"
    assert app.head_position() == head, "nothing of the batch was saved"


def test_one_key_twice_in_a_batch_with_other_params_is_refused(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    with pytest.raises(InvalidFieldError) as error:
        app.trigger_many(task_id, ctx, [RunRequest({"A": "1"}, "k"), RunRequest({"A": "2"}, "k")])
    assert error.value.field == "runs[1].idempotency_key"
