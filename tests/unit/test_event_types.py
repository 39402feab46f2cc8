"""`--type` names: an aggregate selects all its events, an event itself, a typo is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from entrypoints.event_types import UnknownEventTypeError, known_topics, topics_named

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def test_every_documented_event_topic_is_known_and_every_known_one_is_documented() -> None:
    documented = set(re.findall(r"`(scheduler:\w+\.\w+)`", EVENTS_DOC.read_text()))
    assert set(known_topics()) == documented


def test_an_aggregate_name_selects_its_events_and_not_those_of_a_longer_name() -> None:
    selected = topics_named(["Task"])
    assert "scheduler:Task.Created" in selected and "scheduler:Task.Deleted" in selected
    assert all(t.startswith("scheduler:Task.") for t in selected)


def test_an_event_name_selects_only_that_event_and_repeats_count_once() -> None:
    assert topics_named(["TaskRun.Failed", "TaskRun.Failed"]) == ["scheduler:TaskRun.Failed"]
    assert topics_named([]) == []


@pytest.mark.parametrize("name", ["Tsk", "TaskRun.Fail", "Task.", "scheduler:Task", ""])
def test_a_name_that_selects_no_event_type_is_refused_with_the_aggregates(name: str) -> None:
    aggregates = (
        "ApiKey, ApiKeyName, Backfill, Namespace, Retention, Subscription, Task, TaskName, "
        "TaskRun, Worker"
    )
    with pytest.raises(UnknownEventTypeError, match=aggregates):
        topics_named([name])
