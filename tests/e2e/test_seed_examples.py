"""The seed README's three curl examples, verbatim but for the port, against `scheduler up`.

The README promises they end in a succeeded run after `make up`, so the scheduler is started
the way `make up` starts it: the command `make -n up` prints, from the repository root, where
the python executor looks for `process_data.py`. Only the port and the SQLite file differ, so
that the test neither needs port 8080 nor touches the repository's ./var.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SchedulerProcess, base_env, wait_for_run

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"

CREATE = """curl -X POST http://localhost:8080/api/tasks \\
  -H "Content-Type: application/json" \\
  -d '{
    "name": "data_processing",
    "description": "处理每日数据",
    "task_type": "batch",
    "executor": "python",
    "command": "process_data.py",
    "schedule": "0 2 * * *",
    "priority": "normal",
    "retry_count": 3,
    "timeout_seconds": 3600
  }'"""
GET = "curl -X GET http://localhost:8080/api/tasks/1"
TRIGGER = "curl -X POST http://localhost:8080/api/tasks/1/trigger"


def curl(command: str, port: int) -> dict:
    shell = command.replace("localhost:8080", f"localhost:{port}") + " -s -w '\\n%{http_code}'"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=True)
    body, _, status = done.stdout.rpartition("\n")
    return {"status": int(status), "body": json.loads(body)}


def make_up_command() -> tuple[str, ...]:
    """What `make up` runs once the environment is installed, with this test's scheduler."""
    make = shutil.which("make")
    assert make is not None, "make is not installed; the README's quick start needs it"
    # Without the outer make's flags, when pytest itself runs under `make test`.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    printed = subprocess.run(
        [make, "-n", "up", f"BIN={Path(sys.executable).parent}"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(shlex.split(printed.stdout.strip().splitlines()[-1]))


@pytest.fixture
def as_make_up_runs_it(tmp_path: Path) -> Iterator[SchedulerProcess]:
    """`scheduler up --config config/development.toml` from the repository root."""
    command = make_up_command()
    assert command[1:] == ("up", "--config", "config/development.toml"), command
    # Nothing of the tests' own settings (base_env): the development config alone decides,
    # as it does for `make up` (tasks as whoever runs it, anonymous loopback callers). Only
    # the files move out of the repository: the SQLite database and the development key.
    plain = {k: v for k, v in base_env().items() if not k.startswith("SCHEDULER_")}
    env = {
        **plain,
        "SCHEDULER_DATABASE__URL": f"sqlite:///{tmp_path / 'scheduler.db'}",
        "SCHEDULER_SECRETS__DEVELOPMENT_KEY_FILE": str(tmp_path / "secret.key"),
    }
    proc = SchedulerProcess(workdir=tmp_path, env=env, command=command, cwd=REPO_ROOT)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def test_the_readme_shows_the_seed_examples_verbatim() -> None:
    text = README.read_text()
    assert all(example in text for example in (CREATE, GET, TRIGGER))


def test_the_three_seed_examples_end_in_a_succeeded_run_after_make_up(
    as_make_up_runs_it: SchedulerProcess,
) -> None:
    port = as_make_up_runs_it.port
    created = curl(CREATE, port)
    assert created["status"] == 201, created
    assert created["body"]["id"] == 1
    assert created["body"]["name"] == "data_processing"
    assert created["body"]["next_fire_at"] is not None

    fetched = curl(GET, port)
    assert fetched["status"] == 200
    assert fetched["body"]["description"] == "处理每日数据"
    assert fetched["body"]["retry_count"] == 3

    triggered = curl(TRIGGER, port)
    assert triggered["status"] == 202, triggered
    run_id = triggered["body"]["run_id"]

    with httpx.Client(base_url=as_make_up_runs_it.url, timeout=10) as client:
        run = wait_for_run(client, run_id)
    assert run["status"] == "succeeded", run
    assert run["exit_code"] == 0
    assert run["task_id"] == 1
    # The repository's process_data.py ran: its summary of the built-in sample.
    assert f"run {run_id}: data from the built-in sample" in run["output"], run["output"]
    assert "processed 4 rows, total 184.25" in run["output"]
