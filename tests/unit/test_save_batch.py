"""save_batch: many items in one save; on a conflict each item alone, on its newer state."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest
from eventsourcing.persistence import IntegrityError

from application.commands.app import SchedulerApp
from domain.context import CommandContext
from domain.task import Task
from tests.unit.conftest import make_spec


def tasks(app: SchedulerApp, ctx: CommandContext, count: int) -> list[uuid.UUID]:
    return [app.create_task(make_spec(name=f"t{i}"), ctx).aggregate_id for i in range(count)]


class Pauser:
    """Pauses the tasks it is given; before saving, another writer edits `contested` tasks."""

    def __init__(
        self, app: SchedulerApp, ctx: CommandContext, contested: set[uuid.UUID], times: int
    ) -> None:
        self.app, self.ctx, self.contested, self.times = app, ctx, contested, times
        self.calls: list[list[uuid.UUID]] = []

    def __call__(self, batch: Sequence[uuid.UUID]) -> tuple[list[Task], list[uuid.UUID]]:
        self.calls.append(list(batch))
        loaded = [self.app.get_task(task_id) for task_id in batch]
        for task in loaded:
            task.pause("batch", self.ctx)
            if task.id in self.contested and self.times > 0:
                self.times -= 1  # between our load and our save, someone else saves it
                self.app.update_task(task.id, {"description": f"edit {self.times}"}, self.ctx)
        return loaded, [task.id for task in loaded]


def event_names(app: SchedulerApp, task_id: uuid.UUID) -> list[str]:
    return [type(e).__name__ for e in app.events.get(task_id)]


def test_a_conflict_on_one_item_retries_it_alone_on_its_newer_state_and_saves_the_others(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    first, contested, last = tasks(app, ctx, 3)
    decide = Pauser(app, ctx, {contested}, times=1)
    saved = app.save_batch([first, contested, last], decide)
    assert saved == [first, contested, last]
    assert decide.calls == [[first, contested, last], [first], [contested], [last]]
    assert all(app.get_task(t).status == "paused" for t in (first, contested, last))
    assert event_names(app, contested) == ["Created", "Updated", "Paused"]
    assert event_names(app, first) == ["Created", "Paused"], "saved once, by its lone save"


def test_an_item_that_keeps_conflicting_alone_is_left_to_the_other_writer(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    first, contested = tasks(app, ctx, 2)
    decide = Pauser(app, ctx, {contested}, times=2)  # the batch save and its one try alone
    assert app.save_batch([first, contested], decide) == [first]
    assert app.get_task(first).status == "paused"
    assert app.get_task(contested).status == "active"


def test_a_batch_of_one_that_conflicts_is_not_tried_again_by_default(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    [contested] = tasks(app, ctx, 1)
    decide = Pauser(app, ctx, {contested}, times=1)
    assert app.save_batch([contested], decide) == []
    assert decide.calls == [[contested]]


def test_more_tries_alone_load_the_item_again_until_it_goes_in(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    first, contested = tasks(app, ctx, 2)
    decide = Pauser(app, ctx, {contested}, times=3)  # batch, then two lost tries alone
    saved = app.save_batch([first, contested], decide, tries_alone=3, raise_when_lost=True)
    assert saved == [first, contested]
    assert decide.calls == [[first, contested], [first], [contested], [contested], [contested]]
    assert event_names(app, contested) == ["Created", "Updated", "Updated", "Updated", "Paused"]


def test_an_item_lost_every_try_raises_when_asked_to_and_saves_nothing_of_it(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    [contested] = tasks(app, ctx, 1)
    decide = Pauser(app, ctx, {contested}, times=99)
    with pytest.raises(IntegrityError):
        app.save_batch([contested], decide, tries_alone=3, raise_when_lost=True)
    assert len(decide.calls) == 3
    assert app.get_task(contested).status == "active"


def test_a_batch_that_changes_nothing_saves_nothing_and_answers_its_results(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    head = app.head_position()
    results = app.save_batch([1, 2], lambda batch: ([], [f"looked at {i}" for i in batch]))
    assert results == ["looked at 1", "looked at 2"]
    assert app.head_position() == head
