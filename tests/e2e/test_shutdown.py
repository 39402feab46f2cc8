"""SIGTERM stops `scheduler up` cleanly: a run still going after the grace is cancelled."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.e2e.conftest import running_scheduler
from tests.unit.test_executors import live_members


def test_sigterm_cancels_a_run_past_the_grace_and_exits_zero(tmp_path: Path) -> None:
    env = {"SCHEDULER_WORKER__SHUTDOWN_GRACE_SECONDS": "1"}
    with running_scheduler(tmp_path, env) as scheduler:
        with httpx.Client(base_url=scheduler.url, timeout=10) as client:
            client.post("/api/tasks", json={"name": "long", "command": "sleep 60"})
            run_id = client.post("/api/tasks/long/trigger").json()["run_id"]
            deadline = time.monotonic() + 10
            while client.get(f"/api/runs/{run_id}").json()["status"] != "running":
                assert time.monotonic() < deadline, "the run never started"
                time.sleep(0.05)
            started = client.get(f"/api/runs/{run_id}/events").json()[2]
            pid = started["payload"]["pid"]
        stopping = time.monotonic()
        assert scheduler.stop() == 0
        assert time.monotonic() - stopping < 15
        assert live_members(pid) == [], "the run's process group outlived the worker"
        scheduler.start()
        with httpx.Client(base_url=scheduler.url, timeout=10) as client:
            run = client.get(f"/api/runs/{run_id}").json()
            assert (run["status"], run["error"]) == ("failed", "cancelled")
            statuses = sorted(w["status"] for w in client.get("/api/workers").json())
            assert statuses == ["active", "gone"]
