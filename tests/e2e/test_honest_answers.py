"""A saved command never answers 404 or 5xx because a view is behind: it says the view is stale.

The tasks and runs views are broken on purpose (their tables renamed away), so they cannot
catch up; every command must still be resolved and answered from the write side.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import running_scheduler, unique, wait_for_run

pytestmark = pytest.mark.e2e


def test_commands_answer_from_the_log_while_the_views_are_behind(tmp_path: Path) -> None:
    env = {"SCHEDULER_API__READ_WAIT_TIMEOUT_SECONDS": "0.5"}
    with running_scheduler(tmp_path, env) as proc, httpx.Client(base_url=proc.url) as client:
        name = unique("honest")
        database = tmp_path / "var" / "scheduler.db"
        with sqlite3.connect(database) as db:  # the views stop here
            db.execute("ALTER TABLE tasks RENAME TO tasks_away")
            db.execute("ALTER TABLE runs RENAME TO runs_away")
        created = client.post("/api/tasks", json={"name": name, "command": "echo kept"})
        assert created.status_code == 201, created.text
        assert created.headers["X-View-Stale"] == "true"
        task = created.json()
        assert task["name"] == name and task["id"] == 1 and int(created.headers["X-Log-Position"])
        # Resolved through the write side: by name, by number and by UUID.
        for ref in (name, "1", task["uuid"]):
            paused = client.post(f"/api/tasks/{ref}/pause")
            assert paused.status_code == 200, paused.text
            assert paused.json()["status"] == "paused" and paused.headers["X-View-Stale"]
            assert client.post(f"/api/tasks/{ref}/resume").status_code == 200
        shown = client.get(f"/api/tasks/{name}")
        assert shown.status_code == 200 and shown.headers["X-View-Stale"] == "true"
        triggered = client.post(f"/api/tasks/{name}/trigger")
        assert triggered.status_code == 202, triggered.text
        body = triggered.json()
        assert (body["task_id"], body["status"], triggered.headers["X-View-Stale"]) == (
            1,
            "pending",
            "true",
        )
        run = client.get(f"/api/runs/{body['run_id']}")
        assert run.status_code == 200 and run.headers["X-View-Stale"] == "true"
        updated = client.patch(f"/api/tasks/{name}", json={"description": "edited while stale"})
        assert updated.status_code == 200 and updated.json()["description"] == "edited while stale"
        with sqlite3.connect(database) as db:  # the views catch up again
            db.execute("ALTER TABLE tasks_away RENAME TO tasks")
            db.execute("ALTER TABLE runs_away RENAME TO runs")
        assert wait_for_run(client, body["run_id"])["status"] == "succeeded"
        deadline = time.monotonic() + 30
        while "X-View-Stale" in (fresh := client.get(f"/api/tasks/{name}")).headers:
            assert time.monotonic() < deadline, "the tasks view never caught up"
            time.sleep(0.1)
        assert fresh.json()["description"] == "edited while stale"
        deleted = client.delete(f"/api/tasks/{task['uuid']}")
        assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
