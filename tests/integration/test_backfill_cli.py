"""`scheduler backfill` on both stores: a dry run lists the slots, a start records one backfill."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner, Result

from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container
from entrypoints.cli import main

DAY = datetime(2026, 1, 1, tzinfo=UTC)
FROM, TO = DAY.isoformat(), (DAY + timedelta(hours=2)).isoformat()


def run_cli(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        main, ["backfill", *args], env={"SCHEDULER_DATABASE__URL": database_url}
    )


def test_a_dry_run_lists_the_slots_and_a_start_prints_the_backfill_id(
    container: Container, database_url: str
) -> None:
    ctx = CommandContext("key:ops", datetime.now(UTC), uuid.uuid4())
    spec = validate_spec({"name": "hourly", "command": "true", "schedule": "0 * * * *"})
    task_id = container.app.create_task(spec, ctx).aggregate_id
    container.app.fire_cron([(task_id, DAY)], [], "dispatcher", ctx.now)  # the first slot ran
    head = container.app.head_position()

    preview = run_cli(database_url, "hourly", "--from", FROM, "--to", TO, "--dry-run")

    assert preview.exit_code == 0, preview.output
    lines = preview.stdout.splitlines()
    assert lines[:3] == [
        f"{(DAY + timedelta(hours=h)).isoformat()}  {'exists' if h == 0 else 'new'}"
        for h in range(3)
    ]
    assert lines[-1] == "3 slots, 1 with a run already (dry run)"
    assert container.app.head_position() == head

    started = run_cli(database_url, "hourly", "--from", FROM, "--to", TO, "--concurrency", "2")

    assert started.exit_code == 0, started.output
    backfill = container.app.get_backfill(uuid.UUID(started.stdout.splitlines()[-1]))
    assert (backfill.task_id, backfill.slots_total, backfill.concurrency) == (task_id, 3, 2)
    assert backfill.started_by and backfill.started_by.startswith("cli:")


def test_bad_arguments_exit_non_zero_naming_the_option(
    container: Container, database_url: str
) -> None:
    ctx = CommandContext("key:ops", datetime.now(UTC), uuid.uuid4())
    spec = validate_spec({"name": "hourly", "command": "true", "schedule": "0 * * * *"})
    container.app.create_task(spec, ctx)
    far = (DAY + timedelta(days=500)).isoformat()
    for args, named in (
        (["hourly", "--from", "2026-01-01T00:00:00", "--to", TO], "--from"),
        (["hourly", "--from", FROM, "--to", far, "--dry-run"], "--to"),
        (["hourly", "--from", TO, "--to", FROM], "--to"),
        (["hourly", "--from", FROM, "--to", TO, "--concurrency", "0"], "--concurrency"),
        (["nobody", "--from", FROM, "--to", TO], "TASK"),
    ):
        result = run_cli(database_url, *args)
        assert result.exit_code == 2, (args, result.output)
        assert named in result.output, (args, result.output)
