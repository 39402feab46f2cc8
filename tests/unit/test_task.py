"""The Task aggregate and its definition rules."""

from __future__ import annotations

import uuid

import pytest

from domain.context import CommandContext
from domain.errors import IllegalTransitionError, TaskDeletedError
from domain.task import Task
from domain.task_run import RunStatus, TaskRun
from domain.task_spec import SpecValidationError, validate_spec
from tests.unit.conftest import make_spec


def problems(**fields: object) -> dict[str, str]:
    with pytest.raises(SpecValidationError) as caught:
        validate_spec({"name": "t", "command": "true", **fields})
    return dict(caught.value.problems)


def test_the_seeds_create_body_is_a_valid_definition() -> None:
    spec = validate_spec(
        {
            "name": "data_processing",
            "description": "处理每日数据",
            "task_type": "batch",
            "executor": "python",
            "command": "process_data.py",
            "schedule": "0 2 * * *",
            "priority": "normal",
            "retry_count": 3,
            "timeout_seconds": 3600,
        }
    )
    assert spec.executor == "python"
    assert spec.retry_count == 3


@pytest.mark.parametrize("schedule", ["0 2 * * *", "*/10 * * * * *", "@daily", "@hourly"])
def test_cron_with_five_or_six_fields_or_a_macro_is_accepted(schedule: str) -> None:
    assert validate_spec({"name": "t", "command": "true", "schedule": schedule}).schedule


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("61 * * * *", "not a valid cron"),
        ("* * *", "3 fields"),
        ("* * * * * * *", "7 fields"),
        ("@fortnightly", "unknown macro"),
    ],
)
def test_bad_cron_is_refused_saying_why(schedule: str, words: str) -> None:
    assert words in problems(schedule=schedule)["schedule"]


def test_unknown_timezone_is_refused() -> None:
    assert "IANA" in problems(timezone="Mars/Olympus")["timezone"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", "urgent"),
        ("executor", "docker"),
        ("retry_count", -1),
        ("timeout_seconds", -5),
        ("command", ""),
        ("command", "x" * 20_000),
        ("env", {"1BAD": "x"}),
    ],
)
def test_invalid_fields_are_named_in_the_error(field: str, value: object) -> None:
    assert field in problems(**{field: value})


@pytest.mark.parametrize("name", ["", "x" * 201, "12", "a/b", " padded", "tab\there"])
def test_unusable_names_are_refused(name: str) -> None:
    assert "name" in problems(name=name)


def test_unknown_fields_are_refused() -> None:
    assert "shedule" in problems(shedule="0 2 * * *")


def test_update_records_only_the_fields_that_changed(ctx: CommandContext) -> None:
    task = Task.create(uuid.uuid4(), make_spec(), ctx)
    changed = task.update({"priority": "high", "command": "echo hi"}, ctx)
    assert changed == {"priority": "high"}
    assert [type(e) for e in task.collect_events()] == [Task.Created, Task.Updated]


def test_an_update_that_breaks_a_rule_changes_nothing(ctx: CommandContext) -> None:
    task = Task.create(uuid.uuid4(), make_spec(), ctx)
    task.collect_events()
    with pytest.raises(SpecValidationError):
        task.update({"schedule": "not cron"}, ctx)
    assert task.pending_events == []
    assert task.spec["schedule"] is None


def test_pausing_a_paused_task_is_refused(ctx: CommandContext) -> None:
    task = Task.create(uuid.uuid4(), make_spec(), ctx)
    task.pause("maintenance", ctx)
    with pytest.raises(IllegalTransitionError):
        task.pause("again", ctx)


def test_a_deleted_task_accepts_no_more_commands(ctx: CommandContext) -> None:
    task = Task.create(uuid.uuid4(), make_spec(), ctx)
    task.delete("retired", ctx)
    with pytest.raises(TaskDeletedError):
        task.update({"priority": "low"}, ctx)


def test_a_requested_run_keeps_the_definition_and_version_the_task_had_then(
    ctx: CommandContext,
) -> None:
    task = Task.create(uuid.uuid4(), make_spec(name="etl", retry_count=2), ctx)
    task.update({"priority": "high"}, ctx)
    nominal = ctx.now.replace(hour=3)
    run = task.request_run(uuid.uuid4(), "cron", ctx, nominal_time=nominal, params={"day": "1"})
    task.update({"retry_count": 5}, ctx)
    [requested] = run.collect_events()
    assert isinstance(requested, TaskRun.Requested)
    assert (requested.task_id, requested.task_version) == (task.id, 2)
    assert requested.task["priority"] == "high" and requested.task["retry_count"] == 2
    assert (requested.trigger, requested.nominal_time, requested.params) == (
        "cron",
        nominal,
        {"day": "1"},
    )
    assert requested.metadata["correlation_id"] == str(ctx.correlation_id)
    assert run.status is RunStatus.PENDING and run.retries_left == 2


def test_a_manual_run_has_no_nominal_time_and_no_params(ctx: CommandContext) -> None:
    task = Task.create(uuid.uuid4(), make_spec(), ctx)
    run = task.request_run(uuid.uuid4(), "manual", ctx)
    assert (run.trigger, run.nominal_time, run.params) == ("manual", None, {})


def test_a_deleted_task_or_an_unknown_trigger_requests_no_run(ctx: CommandContext) -> None:
    task = Task.create(uuid.uuid4(), make_spec(), ctx)
    with pytest.raises(ValueError, match="unknown trigger"):
        task.request_run(uuid.uuid4(), "whenever", ctx)
    task.delete("retired", ctx)
    with pytest.raises(TaskDeletedError):
        task.request_run(uuid.uuid4(), "manual", ctx)


def test_every_event_carries_actor_correlation_and_causation(ctx: CommandContext) -> None:
    task = Task.create(uuid.uuid4(), make_spec(), ctx)
    task.pause("maintenance", ctx)
    for event in task.collect_events():
        assert event.metadata["actor"] == "tester"
        assert event.metadata["correlation_id"] == str(ctx.correlation_id)
        assert event.metadata["causation_id"]
        assert event.timestamp == ctx.now


def test_the_http_executor_needs_a_url_and_http_settings_need_it() -> None:
    assert "http(s)" in problems(executor="http", command="not a url")["body"]
    assert "only used with executor 'http'" in problems(http={"method": "POST"})["body"]
    spec = validate_spec(
        {
            "name": "ping",
            "executor": "http",
            "command": "https://example.com/hook",
            "http": {"method": "POST", "body": "{}", "expected_status": [202]},
        }
    )
    assert spec.http is not None and spec.http.method == "POST"
