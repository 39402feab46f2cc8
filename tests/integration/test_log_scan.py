"""`events tail` reads by topic in the database: the whole log is searched, only matches move."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid4, uuid5

import pytest
from click.testing import CliRunner
from eventsourcing.persistence import ApplicationRecorder, Notification, StoredEvent

from application.commands.app import SchedulerApp
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.cli import main
from entrypoints.log_scan import FIRST_WINDOW, last_notifications
from entrypoints.settings import load_settings

LOG_SIZE = 5_000
RARE = "scheduler:Task.Created"
COMMON = "scheduler:Worker.Registered"
RARE_AT = (10, 20, 30)  # far older than any window near the head


class CountingRecorder:
    """The real recorder, counting the notifications its queries hand back."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.returned = 0

    def select_notifications(self, *args: Any, **kwargs: Any) -> Sequence[Notification]:
        """The recorder's answer, counted."""
        found = self.recorder.select_notifications(*args, **kwargs)
        self.returned += len(found)
        return found


def stored(position: int, topic: str) -> StoredEvent:
    return StoredEvent(
        originator_id=uuid5(NAMESPACE_URL, f"event-{position}"),
        originator_version=1,
        topic=topic,
        state=b"{}",
    )


@pytest.fixture
def app(database_url: str) -> Iterator[SchedulerApp]:
    """The event store alone, holding a log where one type is rare and old."""
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": database_url})
    with SchedulerApp(env={**settings.eventstore_env(), "CREATE_TABLE": "y"}) as application:
        application.recorder.insert_events(
            [stored(p, RARE if p in RARE_AT else COMMON) for p in range(1, LOG_SIZE + 1)]
        )
        yield application


def test_the_last_events_of_a_rare_type_are_found_however_old(app: SchedulerApp) -> None:
    counting = CountingRecorder(app.recorder)
    head = app.head_position()
    found = last_notifications(counting, 20, [RARE], head)
    assert [n.topic for n in found] == [RARE] * 3
    positions = [n.id for n in found]
    assert positions == sorted(positions) and positions[-1] < head - LOG_SIZE // 2
    assert counting.returned == 3, "only the matching events leave the database"
    assert [n.id for n in last_notifications(app.recorder, 2, [RARE], head)] == positions[1:]


def test_without_a_type_the_last_events_of_the_log_are_read_from_one_window(
    app: SchedulerApp,
) -> None:
    counting = CountingRecorder(app.recorder)
    head = app.head_position()
    found = last_notifications(counting, 5, [], head)
    assert [n.id for n in found] == list(range(head - 4, head + 1))
    assert counting.returned <= FIRST_WINDOW


def test_events_tail_shows_an_event_it_cannot_decode_and_goes_on(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'scheduler.db'}"
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": url})
    with SchedulerApp(env={**settings.eventstore_env(), "CREATE_TABLE": "y"}) as application:
        application.recorder.insert_events([stored(1, "scheduler:Task.Bogus")])
        ctx = CommandContext(
            actor="tester", now=datetime(2026, 1, 1, tzinfo=UTC), correlation_id=uuid4()
        )
        application.create_task(validate_spec({"name": "after", "command": "true"}), ctx)
    result = CliRunner().invoke(
        main, ["events", "tail"], env={"SCHEDULER_DATABASE__URL": url, "SCHEDULER_CONFIG": ""}
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert records[0]["position"] == 1 and records[0]["type"] == "Task.Bogus"
    assert records[0]["error"].startswith("cannot decode: "), records[0]
    created = [r for r in records[1:] if r["type"] == "Task.Created"]
    assert [r["payload"]["spec"]["name"] for r in created] == ["after"]
    assert not any("error" in r for r in records[1:])
