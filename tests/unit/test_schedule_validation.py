"""Timings are refused at the door by evaluating them; the timing code raises one error type."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.migrations import apply_migrations
from adapters.sqlite.database import SqliteDatabase
from application.commands.app import SchedulerApp
from domain.context import CommandContext
from domain.cron import next_fire_time
from domain.errors import ScheduleError
from domain.task import Task
from domain.task_name import TaskName
from domain.task_spec import SpecValidationError, validate_spec
from domain.timing import next_interval_slot, next_slot, parse_moment, timing_problem
from projections.tasks import TasksProjection
from tests.unit.conftest import make_spec

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NEVER = ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *", "0 0 31 6 *", "0 0 0 30 2 *", "0 0 30 2 * "]


def problems(**fields: object) -> dict[str, str]:
    try:
        validate_spec({"name": "t", "command": "true", **fields})
    except SpecValidationError as error:
        return dict(error.problems)
    return {}


@pytest.mark.parametrize("schedule", NEVER)
def test_a_schedule_that_never_fires_is_refused_naming_the_field_and_why(schedule: str) -> None:
    found = problems(schedule=schedule)
    assert list(found) == ["schedule"]
    assert "never fires" in found["schedule"]


@pytest.mark.parametrize(
    "schedule",
    [
        "0 0 29 2 *",
        "0 0 * 2 1#5",  # a fifth Monday of February: leap years starting on a Monday
        "0 0 L 2 *",
        "0 0 31 2 1",  # day OR weekday: every Monday
        "0 0 15W * *",
        "0 0 * * L5",
        "59 59 23 31 12 *",
        "*/1 * * * * *",
        "@yearly",
    ],
)
def test_odd_but_possible_schedules_are_accepted(schedule: str) -> None:
    assert problems(schedule=schedule, timezone="Pacific/Kiritimati") == {}


def test_feb_29_keeps_firing_across_a_century_that_is_no_leap_year() -> None:
    fire = next_fire_time("0 0 29 2 *", "UTC", datetime(2096, 3, 1, tzinfo=UTC))
    assert fire == datetime(2104, 2, 29, tzinfo=UTC)
    assert timing_problem({"schedule": "0 0 29 2 *"}, datetime(2096, 3, 1, tzinfo=UTC)) is None


@pytest.mark.parametrize(
    "zone", ["localtime", "/etc/localtime", "posixrules", "Europe/../UTC", "Mars/Base", ""]
)
def test_host_dependent_or_unknown_zones_are_refused(zone: str) -> None:
    found = problems(schedule="@daily", timezone=zone)
    assert "IANA" in found["timezone"]


def test_every_iana_key_is_accepted_also_the_factory_zone() -> None:
    assert problems(schedule="@daily", timezone="Factory") == {}
    assert problems(schedule="@daily", timezone="America/Argentina/ComodRivadavia") == {}


@pytest.mark.parametrize(
    "run_at",
    [
        "9999-12-31T23:59:59-12:00",  # its UTC conversion is in year 10000
        "9999-06-30T00:00:00+00:00",  # converts, but no room for a catch-up window after it
        "0001-01-01T00:00:00+14:00",  # its UTC conversion is in year 0
    ],
)
def test_a_run_at_whose_arithmetic_overflows_is_refused(run_at: str) -> None:
    found = problems(run_at=run_at)
    assert list(found) == ["run_at"] and "out of range" in found["run_at"]


def test_a_run_at_far_ahead_but_within_range_is_accepted() -> None:
    assert problems(run_at="9998-11-01T00:00:00+14:00") == {}


def test_the_command_evaluates_the_timing_from_its_own_time() -> None:
    late = CommandContext("op", datetime(9998, 12, 1, tzinfo=UTC), uuid.uuid4())
    with pytest.raises(SpecValidationError, match=r"interval_seconds: .*out of range"):
        Task.create(uuid.uuid4(), make_spec(interval_seconds=31_536_000), late)


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"schedule": "0 0 31 2 *"}, "schedule"),  # stored before the rule existed
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"schedule": "@daily", "timezone": "No/Such_Zone"}, "timezone"),
        ({"schedule": "@daily", "timezone": 5}, "timezone"),
        ({"interval_seconds": "soon"}, "interval_seconds"),
        ({"interval_seconds": -5}, "interval_seconds"),
        ({"interval_seconds": 10**30}, "interval_seconds"),
        ({"run_at": "next tuesday"}, "run_at"),
        ({"run_at": 5}, "run_at"),
        ({"run_at": "9999-12-31T23:59:59-12:00"}, "run_at"),  # no UTC time: year 10000
    ],
)
def test_the_timing_functions_raise_only_schedule_error(spec: dict, field: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        next_slot(spec, T0)
    assert raised.value.field == field


def test_slot_arithmetic_at_the_end_of_the_calendar_is_a_schedule_error() -> None:
    end = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    with pytest.raises(ScheduleError, match="interval_seconds"):
        next_interval_slot(3_600, end)
    with pytest.raises(ScheduleError, match="schedule"):
        next_fire_time("0 0 1 1 *", "Pacific/Kiritimati", end)
    with pytest.raises(ScheduleError, match="run_at"):
        parse_moment("9999-13-01T00:00:00+00:00")


def test_an_update_repairs_a_task_stored_with_a_schedule_that_never_fires(
    ctx: CommandContext,
) -> None:
    bad = {**make_spec().as_event_data(), "schedule": "0 0 31 2 *"}
    task = Task._create_with(Task.Created, uuid.uuid4(), ctx, spec=bad)
    with pytest.raises(SpecValidationError, match="schedule: never fires"):
        task.update({"priority": "high"}, ctx)  # the merged definition still never fires
    assert task.update({"schedule": "0 0 28 2 *"}, ctx) == {"schedule": "0 0 28 2 *"}


def test_the_tasks_view_shows_no_next_fire_for_a_timing_it_cannot_evaluate(
    tmp_path: Path, ctx: CommandContext
) -> None:
    database = SqliteDatabase(tmp_path / "views.db")
    apply_migrations(database, announce=False)
    bad = {**make_spec().as_event_data(), "schedule": "0 0 31 2 *"}
    task = Task._create_with(Task.Created, uuid.uuid4(), ctx, spec=bad)
    task.pause("x", ctx)
    with database.transaction() as tx:
        for position, event in enumerate(task.collect_events(), start=1):
            TasksProjection().process(event, position, tx)
    row = database.one("SELECT status, next_fire_at FROM tasks WHERE uuid = %(u)s", {"u": task.id})
    assert row == {"status": "paused", "next_fire_at": None}
    database.close()


def test_interval_slots_are_unchanged_and_checked_up_to_the_headroom() -> None:
    assert next_interval_slot(60, T0 + timedelta(seconds=7)) == T0 + timedelta(minutes=1)
    problem = timing_problem({"interval_seconds": 60}, datetime(9999, 1, 1, tzinfo=UTC))
    assert problem is not None and problem.field == "interval_seconds"


def test_a_rollback_to_a_version_that_never_fires_is_refused(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    bad = {**make_spec().as_event_data(), "schedule": "0 0 31 2 *"}
    task = Task._create_with(Task.Created, uuid.uuid4(), ctx, spec=bad)  # as stored long ago
    app.save(task, TaskName.create(task.name, task.id, ctx))
    app.update_task(task.id, {"schedule": "0 0 28 2 *"}, ctx)  # the repair
    with pytest.raises(SpecValidationError, match="schedule: never fires"):
        app.rollback_task(task.id, 1, ctx)
    assert app.get_task(task.id).spec["schedule"] == "0 0 28 2 *"
