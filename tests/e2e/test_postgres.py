"""`scheduler up` on PostgreSQL: the same path end to end, and a restart that loses nothing."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.e2e.conftest import running_scheduler, wait_for_run
from tests.servers import fresh_postgres_database


def test_runs_and_restarts_on_postgresql(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        env = {"SCHEDULER_DATABASE__URL": url}
        with running_scheduler(tmp_path, env) as scheduler:
            with httpx.Client(base_url=scheduler.url, timeout=10) as client:
                created = client.post("/api/tasks", json={"name": "pg", "command": "echo on-pg"})
                assert created.status_code == 201 and created.json()["id"] == 1
                failing = client.post("/api/tasks", json={"name": "pg-fail", "command": "exit 4"})
                ok = client.post("/api/tasks/1/trigger").json()["run_id"]
                bad = client.post(f"/api/tasks/{failing.json()['id']}/trigger").json()["run_id"]
                assert wait_for_run(client, ok)["output"] == "on-pg\n"
                assert wait_for_run(client, bad)["exit_code"] == 4
                assert client.get("/api/tasks/pg").json()["stats"]["runs_succeeded"] == 1
            assert scheduler.stop() == 0
            scheduler.start()
            with httpx.Client(base_url=scheduler.url, timeout=10) as client:
                assert client.get(f"/api/runs/{ok}").json()["status"] == "succeeded"
                assert client.get("/api/tasks", params={"name": "pg"}).json()["total"] == 2
                again = client.post("/api/tasks/pg/trigger").json()["run_id"]
                assert wait_for_run(client, again)["status"] == "succeeded"
