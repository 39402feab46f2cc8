"""`scheduler events query` on both stores: filters through the index, refusals, lag noted."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from click.testing import CliRunner

from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container
from entrypoints.cli import main


def run_cli(database_url: str, *args: str) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(
        main, ["events", "query", *args], env={"SCHEDULER_DATABASE__URL": database_url}
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return result.exit_code, lines, result.stderr


def test_the_query_finds_a_tasks_runs_and_says_when_the_index_is_behind(
    container: Container, database_url: str
) -> None:
    ctx = CommandContext("key:ops", datetime.now(UTC), uuid.uuid4())
    app = container.app
    task_id = app.create_task(validate_spec({"name": "nightly", "command": "true"}), ctx)
    run = app.trigger_task(task_id.aggregate_id, ctx)
    for runner in container.runners:
        runner.catch_up()
    app.create_task(validate_spec({"name": "later", "command": "true"}), ctx)  # not indexed

    code, lines, stderr = run_cli(database_url, "--task", "nightly", "--type", "TaskRun.Requested")

    assert code == 0, stderr
    assert [line["originator_id"] for line in lines] == [str(run.aggregate_id)]
    assert "the index has reached position" in stderr
    code, lines, _ = run_cli(database_url, "--actor", "key:*", "--limit", "2")
    assert code == 0 and len(lines) == 2 and {line["actor"] for line in lines} == {"key:ops"}


def test_bad_filters_exit_non_zero_naming_the_option(database_url: str) -> None:
    for args, named in (
        (["--since", "2026-12-01T10:00:00"], "--since"),
        (["--since", "yesterday"], "--since"),
        (["--since", "2026-12-02T00:00:00Z", "--until", "2026-12-01T00:00:00Z"], "--until"),
        (["--task", "no-such-task"], "--task"),
        ([], "filter"),
    ):
        result = CliRunner().invoke(
            main, ["events", "query", *args], env={"SCHEDULER_DATABASE__URL": database_url}
        )
        assert result.exit_code == 2, (args, result.output)
        assert named in result.output, (args, result.output)
