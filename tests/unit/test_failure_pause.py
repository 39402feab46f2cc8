"""Pause after N consecutive failures: the count, its resets and the dispatcher's pause."""

from __future__ import annotations

import uuid

import pytest

from application.dispatch.failure_streaks import FailureStreakBook
from application.messages import Report
from domain.statuses import TaskStatus
from domain.task import Task
from domain.task_spec import SpecValidationError, validate_spec
from tests.unit.conftest import make_spec
from tests.unit.rig import Rig


def run_once(rig: Rig, worker: uuid.UUID, task: str, outcome: str) -> uuid.UUID:
    """Trigger one run of `task`, let it go out and end as `outcome`."""
    run_id = rig.trigger(task)
    rig.dispatcher.step()
    exit_code = 0 if outcome == "succeeded" else 1
    rig.app.record_reports(
        [Report(outcome, run_id, 1, worker, exit_code=exit_code)], rig.clock.now()
    )
    rig.dispatcher.step()
    return run_id


def create(rig: Rig, name: str, threshold: int | None) -> uuid.UUID:
    spec = make_spec(name=name, pause_after_failures=threshold)
    return rig.app.create_task(spec, rig.ctx()).aggregate_id


def test_three_failures_in_a_row_pause_the_task_with_the_reason(rig: Rig) -> None:
    worker = rig.worker("w")
    task_id = create(rig, "flaky", 3)
    runs = [run_once(rig, worker, "flaky", "failed") for _ in range(3)]
    task = rig.app.get_task(task_id)
    assert task.status is TaskStatus.PAUSED
    assert task.pause_reason == f"paused after 3 consecutive failures: last run {runs[-1]}"
    paused = [e for e in rig.app.events.get(task_id) if isinstance(e, Task.Paused)]
    assert len(paused) == 1
    assert paused[0].metadata["actor"] == rig.dispatcher.name
    assert paused[0].metadata["causation_id"] == str(runs[-1])


def test_a_success_resets_the_count(rig: Rig) -> None:
    worker = rig.worker("w")
    task_id = create(rig, "flaky", 2)
    for outcome in ("failed", "succeeded", "failed", "succeeded", "failed"):
        run_once(rig, worker, "flaky", outcome)
    assert rig.app.get_task(task_id).status is TaskStatus.ACTIVE
    run_once(rig, worker, "flaky", "failed")
    assert rig.app.get_task(task_id).status is TaskStatus.PAUSED


def test_without_the_field_failures_never_pause(rig: Rig) -> None:
    worker = rig.worker("w")
    task_id = create(rig, "flaky", None)
    for _ in range(3):
        run_once(rig, worker, "flaky", "failed")
    assert rig.app.get_task(task_id).status is TaskStatus.ACTIVE


def test_a_resume_starts_the_count_again(rig: Rig) -> None:
    worker = rig.worker("w")
    task_id = create(rig, "flaky", 2)
    for _ in range(2):
        run_once(rig, worker, "flaky", "failed")
    rig.app.resume_task(task_id, rig.ctx())
    run_once(rig, worker, "flaky", "failed")
    assert rig.app.get_task(task_id).status is TaskStatus.ACTIVE
    run_once(rig, worker, "flaky", "failed")
    assert rig.app.get_task(task_id).status is TaskStatus.PAUSED


def test_a_failed_attempt_that_is_retried_does_not_count(rig: Rig) -> None:
    worker = rig.worker("w")
    spec = make_spec(name="retried", pause_after_failures=1, retry_count=1)
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    run_once(rig, worker, "retried", "failed")  # attempt 1 of 2: a retry, not the end
    assert rig.app.get_task(task_id).status is TaskStatus.ACTIVE


def test_a_replayed_log_asks_for_no_pause_already_taken(rig: Rig) -> None:
    worker = rig.worker("w")
    create(rig, "flaky", 1)
    run_once(rig, worker, "flaky", "failed")
    book = FailureStreakBook()
    for _position, event in rig.app.read_log(0, 1_000):
        book.apply(event)
    with book.deciding() as pauses:
        assert pauses == []


def test_a_pause_that_cannot_be_saved_is_decided_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = rig.worker("w")
    task_id = create(rig, "flaky", 1)
    pause = rig.app.pause_failing_tasks

    def down(*args: object) -> list[uuid.UUID]:
        raise ConnectionError("database down")

    monkeypatch.setattr(rig.app, "pause_failing_tasks", down)
    with pytest.raises(ConnectionError):
        run_once(rig, worker, "flaky", "failed")
    monkeypatch.setattr(rig.app, "pause_failing_tasks", pause)
    rig.dispatcher.step()
    assert rig.app.get_task(task_id).status is TaskStatus.PAUSED


@pytest.mark.parametrize("value", [0, 1_001, -1, True, 2.5])
def test_bad_thresholds_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(SpecValidationError) as error:
        make_spec(pause_after_failures=value)
    assert [field for field, _ in error.value.problems] == ["pause_after_failures"]


def test_an_old_task_without_the_field_reads_as_never() -> None:
    stored = make_spec().as_event_data()
    del stored["pause_after_failures"]  # as a Task.Created from before the field
    assert validate_spec(stored).pause_after_failures is None
