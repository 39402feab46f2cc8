"""Three dispatchers fire every-second schedules for 30 s; one is killed and restarted."""

from __future__ import annotations

import signal
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import redis_cluster, wait_until


@pytest.mark.timeout(240)
def test_no_slot_fires_twice_and_none_is_missed_across_three_dispatchers(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        cluster.start_api()
        cluster.start("projector", "projector")
        for i in range(3):
            cluster.start(f"dispatcher{i}", "dispatcher")
        cluster.start("worker0", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="40")
        cluster.wait_for_workers(1)
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            names = [f"tick{i}" for i in range(3)]
            for name in names:
                body = {"name": name, "command": "true", "schedule": "* * * * * *"}
                assert client.post("/api/tasks", json=body).status_code == 201
            started = time.monotonic()
            time.sleep(10)
            cluster.signal("dispatcher1", signal.SIGKILL)
            cluster.processes["dispatcher1"].wait()
            time.sleep(5)
            cluster.start("dispatcher1", "dispatcher")  # restarted mid-stream
            time.sleep(max(0.0, 30 - (time.monotonic() - started)))
            for name in names:
                client.post(f"/api/tasks/{name}/pause")

            def settled() -> bool:
                stats = client.get("/api/system/stats").json()["runs"]
                return not {"pending", "assigned", "running"} & set(stats)

            wait_until(settled, 60, "runs did not settle")
            for name in names:
                task = client.get(f"/api/tasks/{name}").json()
                runs = client.get("/api/runs", params={"task": name, "limit": 500}).json()["items"]
                nominals = [datetime.fromisoformat(r["nominal_time"]) for r in runs]
                duplicates = [n for n, c in Counter(nominals).items() if c > 1]
                assert duplicates == [], f"{name} fired a slot twice: {duplicates}"
                first = datetime.fromisoformat(task["created_at"]).replace(microsecond=0)
                last = max(nominals)
                expected = {
                    first + timedelta(seconds=s)
                    for s in range(1, int((last - first).total_seconds()) + 1)
                }
                missed = sorted(expected - set(nominals))
                assert missed == [], f"{name} missed slots: {missed[:5]} of {len(missed)}"
                assert len(nominals) >= 25
                assert {r["status"] for r in runs} == {"succeeded"}
