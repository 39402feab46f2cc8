"""Projections and rebuilds hold the aggregate of an event they cannot apply, on both stores."""

from __future__ import annotations

import uuid
from typing import Any

from application.quarantine import HELD, RELEASE, RELEASED, RESOLVED, RETRY
from domain.task import Task
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container, all_projections
from projections.runner import ProjectionRunner
from projections.tasks import TasksProjection
from tests import poison
from tests.integration.test_projection_rebuild import (
    catch_up,
    ctx,
    rebuild,
    snapshot,
    workload,
)


def held(container: Container) -> dict[str, set[str]]:
    """Aggregates held, by consumer."""
    found: dict[str, set[str]] = {}
    for entry in container.quarantine.entries():
        found.setdefault(entry.consumer, set()).add(entry.aggregate_id)
    return found


def create(container: Container, name: str) -> uuid.UUID:
    spec = validate_spec({"name": name, "command": "true"})
    return container.app.create_task(spec, ctx(container)).aggregate_id


def test_poison_events_hold_only_their_aggregates_and_the_rest_is_projected(
    container: Container,
) -> None:
    healthy = create(container, "healthy")
    bad = {
        "unknown": poison.unknown_topic(container.app),
        "undecodable": poison.undecodable_state(container.app),
    }
    after = container.app.trigger_task(healthy, ctx(container)).aggregate_id
    catch_up(container)
    quarantined = held(container)
    # An unknown topic might concern anyone: every view holds it. The log's index holds
    # nothing: it indexes every stored event by its topic, readable or not.
    for projection in all_projections():
        if projection.name == "event_index":
            assert projection.consumer not in quarantined
            continue
        assert str(bad["unknown"]) in quarantined[projection.consumer]
    indexed = container.database.query("SELECT aggregate_id FROM event_index")
    assert {str(b) for b in bad.values()} <= {row["aggregate_id"] for row in indexed}
    # A run request that cannot be decoded: held where run requests are handled.
    assert str(bad["undecodable"]) in quarantined["projection:runs"]
    assert set().union(*quarantined.values()) == {str(b) for b in bad.values()}
    assert container.database.one("SELECT id FROM runs WHERE id = %(id)s", {"id": after})
    assert all(runner.catch_up() == 0 for runner in container.runners)  # nothing stuck


def test_a_creation_that_fails_keeps_its_task_number(container: Container) -> None:
    create(container, "first")
    broken = poison.stored(
        container.app,
        Task.Created,
        uuid.uuid4(),
        1,
        originator_topic="scheduler:Task",
        spec=["not", "a map"],
    )
    third = create(container, "third")
    catch_up(container)
    rows = container.database.query("SELECT number, name, status FROM tasks ORDER BY number")
    assert [(r["number"], r["status"]) for r in rows] == [
        (1, "active"),
        (2, "quarantined"),
        (3, "active"),
    ]
    assert container.app.task_number(third) == 3 == rows[2]["number"]
    assert str(broken) in held(container)["projection:tasks"]


def test_a_rebuild_quarantines_what_the_runners_did_and_verify_agrees(
    container: Container,
) -> None:
    workload(container, runs=6)
    healthy = create(container, "healthy")
    poison.unknown_topic(container.app)
    poison.undecodable_state(container.app)
    poison.wrong_type_run(container.app, healthy)
    catch_up(container)
    before, live = snapshot(container), held(container)
    env = container.settings.eventstore_env()
    result = rebuild(container, verify=True, env=env)  # the bulk path on PostgreSQL
    assert result.differing_rows == 0, [d.describe() for d in result.differences]
    assert {(e.consumer, e.aggregate_id) for e in result.quarantined} == {
        (consumer, key) for consumer, keys in live.items() for key in keys
    }
    assert snapshot(container) == before and held(container) == live
    paged = rebuild(container, verify=True, bulk=None, final_step=0, batch_size=3)
    assert paged.differing_rows == 0 and held(container) == live


def test_a_release_gives_up_and_later_events_apply_again(container: Container) -> None:
    task_id = create(container, "job")
    # An update the aggregate takes but no view can store: a priority that is not text.
    poison.stored(container.app, Task.Updated, task_id, 2, changes={"priority": {"no": "text"}})
    catch_up(container)
    assert held(container) == {"projection:tasks": {str(task_id)}}
    container.app.pause_task(task_id, "held meanwhile", ctx(container))
    catch_up(container)
    row = container.database.one("SELECT status FROM tasks WHERE uuid = %(id)s", {"id": task_id})
    assert row == {"status": "active"}  # the pause is held behind the broken update
    head = container.app.head_position()
    assert container.quarantine.request(str(task_id), RELEASE, head, ctx(container).now) == 1
    catch_up(container)
    [entry] = container.quarantine.entries(statuses=None)
    assert (entry.status, entry.released_through) == (RELEASED, head)
    container.app.resume_task(task_id, ctx(container))
    catch_up(container)
    row = container.database.one("SELECT status FROM tasks WHERE uuid = %(id)s", {"id": task_id})
    assert row == {"status": "active"} and held(container) == {}
    result = rebuild(container, verify=True, names=("tasks",))
    assert result.differing_rows == 0 and result.quarantined == []


class FlakyTasks(TasksProjection):
    """The tasks projection while a bug makes it fail on one name (fixed by `heal`)."""

    broken = True

    def process(self, event: Any, position: int, tx: Any) -> None:
        spec = getattr(event, "spec", None) or {}
        if self.broken and spec.get("name") == "flaky":
            raise RuntimeError("bug in this release")
        super().process(event, position, tx)


def test_a_retry_applies_the_held_events_once_the_cause_is_fixed(container: Container) -> None:
    projection = FlakyTasks()
    runner = ProjectionRunner(
        projection,
        container.app,
        container.database,
        wakeup=container.log_wakeup,
        committed=container.committed,
        aggregate_log=container.aggregate_log,
    )
    flaky = create(container, "flaky")
    container.app.pause_task(flaky, "while broken", ctx(container))
    create(container, "steady")
    runner.catch_up()
    [entry] = container.quarantine.entries("projection:tasks")
    assert (entry.aggregate_id, entry.held_count) == (str(flaky), 2)
    container.quarantine.request(str(flaky), RETRY, 0, ctx(container).now)
    runner.run_once()  # still broken: held again, the request answered
    [entry] = container.quarantine.entries("projection:tasks")
    assert entry.request is None and entry.failures == 2 and entry.status == HELD
    projection.broken = False  # the new release
    container.quarantine.request(str(flaky), RETRY, 0, ctx(container).now)
    runner.run_once()
    [entry] = container.quarantine.entries("projection:tasks", statuses=None)
    assert entry.status == RESOLVED
    row = container.database.one(
        "SELECT number, status FROM tasks WHERE uuid = %(id)s", {"id": flaky}
    )
    assert row == {"number": 1, "status": "paused"}
