"""The seed README's three curl examples, verbatim but for the port, against `scheduler up`."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.e2e.conftest import SchedulerProcess, wait_for_run

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


def test_the_three_seed_examples_work_verbatim(fresh_scheduler: SchedulerProcess) -> None:
    (fresh_scheduler.workdir / "process_data.py").write_text("print('processed daily data')\n")

    created = curl(CREATE, fresh_scheduler.port)
    assert created["status"] == 201, created
    assert created["body"]["id"] == 1
    assert created["body"]["name"] == "data_processing"
    assert created["body"]["next_fire_at"] is not None

    fetched = curl(GET, fresh_scheduler.port)
    assert fetched["status"] == 200
    assert fetched["body"]["description"] == "处理每日数据"
    assert fetched["body"]["retry_count"] == 3

    triggered = curl(TRIGGER, fresh_scheduler.port)
    assert triggered["status"] == 202, triggered
    run_id = triggered["body"]["run_id"]

    with httpx.Client(base_url=fresh_scheduler.url, timeout=10) as client:
        run = wait_for_run(client, run_id)
    assert run["status"] == "succeeded", run
    assert run["exit_code"] == 0
    assert "processed daily data" in run["output"]
    assert run["task_id"] == 1
