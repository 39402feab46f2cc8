"""A restart loses nothing: tasks, runs and numbering survive on the same storage."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import SchedulerProcess, wait_for_run


def test_restart_keeps_tasks_and_runs(fresh_scheduler: SchedulerProcess) -> None:
    with httpx.Client(base_url=fresh_scheduler.url, timeout=10) as client:
        first = client.post("/api/tasks", json={"name": "persisted", "command": "echo kept"}).json()
        run_id = client.post(f"/api/tasks/{first['id']}/trigger").json()["run_id"]
        wait_for_run(client, run_id)
    assert fresh_scheduler.stop() == 0
    fresh_scheduler.start()
    with httpx.Client(base_url=fresh_scheduler.url, timeout=10) as client:
        assert client.get("/api/tasks/persisted").json()["id"] == first["id"] == 1
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "succeeded" and "kept" in run["output"]
        second = client.post("/api/tasks", json={"name": "next", "command": "true"}).json()
        assert second["id"] == 2
        rerun = client.post("/api/tasks/persisted/trigger").json()["run_id"]
        assert wait_for_run(client, rerun)["status"] == "succeeded"
        workers = client.get("/api/workers").json()
        assert sorted(w["status"] for w in workers) == ["active", "gone"]
