"""The log as the commands' one door to the stored events: read, decode, follow."""

from __future__ import annotations

import uuid

import pytest
from eventsourcing.persistence import StoredEvent

from application.commands.app import SchedulerApp
from application.quarantine import UndecodableEvent
from domain.context import CommandContext
from domain.task import Task
from domain.task_name import TaskName
from tests.unit.conftest import make_spec

BOGUS = "scheduler:Task.Bogus"


def bogus_row(app: SchedulerApp) -> uuid.UUID:
    aggregate_id = uuid.uuid4()
    row = StoredEvent(originator_id=aggregate_id, originator_version=1, topic=BOGUS, state=b"{}")
    app.recorder.insert_events([row])  # a row no release of the code could have written
    return aggregate_id


def test_the_log_reads_positions_and_events_and_a_broken_row_as_undecodable(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(name="etl"), ctx).aggregate_id
    broken = bogus_row(app)
    events = app.read_log(0, 10)
    assert [position for position, _ in events] == [1, 2, 3]
    assert [type(event) for _, event in events[:2]] == [Task.Created, TaskName.Created]
    assert isinstance(events[2][1], UndecodableEvent) and events[2][1].originator_id == broken
    assert app.head_position() == 3
    [row] = app.notifications(2, 10)
    with pytest.raises(Exception, match="Bogus"):
        app.to_domain_event(row)
    assert [type(e) for e in app.aggregate_events(task_id)] == [Task.Created]


def test_notifications_page_by_position_and_topic(app: SchedulerApp, ctx: CommandContext) -> None:
    first = app.create_task(make_spec(name="a"), ctx).aggregate_id
    second = app.create_task(make_spec(name="b"), ctx).aggregate_id
    assert [n.id for n in app.notifications(0, 10, up_to=3)] == [1, 2, 3]
    created = app.notifications(0, 10, ["scheduler:Task.Created"])
    assert [n.originator_id for n in created] == [first, second]
    assert app.created_task_rows(1, 10) == [(3, second)]
    assert app.task_number(second) == 2


def test_every_save_in_the_process_tells_the_listeners_its_position(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    heard: list[int] = []
    app.on_saved(heard.append)
    app.create_task(make_spec(name="a"), ctx)
    app.create_task(make_spec(name="b"), ctx)
    assert heard == [2, 4]
