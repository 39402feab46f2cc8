"""PostgreSQL restarted under load: 503 while down, nothing acknowledged lost, self-healing."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import Cluster, wait_until
from tests.e2e.conftest import free_port
from tests.private_postgres import private_postgres
from tests.servers import redis_url, unique_prefix


@pytest.mark.timeout(300)
def test_a_postgres_restart_under_load_loses_nothing_and_heals(tmp_path: Path) -> None:
    bus_env = {
        "SCHEDULER_MESSAGE_QUEUE__TYPE": "redis",
        "SCHEDULER_MESSAGE_QUEUE__URL": redis_url(),
        "SCHEDULER_MESSAGE_QUEUE__PREFIX": unique_prefix(),
        "SCHEDULER_DATABASE__CONNECTION_TIMEOUT_SECONDS": "2",
    }
    with private_postgres(free_port()) as server:
        cluster = Cluster(workdir=tmp_path, database_url=server.url, bus_env=bus_env)
        try:
            cluster.start_api()
            cluster.start("projector", "projector")
            cluster.start("dispatcher0", "dispatcher")
            cluster.start("worker0", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="4")
            cluster.wait_for_workers(1)
            with httpx.Client(base_url=cluster.url, timeout=30) as client:
                client.post("/api/tasks", json={"name": "steady", "command": "sleep 0.2"})
                accepted = [
                    client.post("/api/tasks/steady/trigger").json()["run_id"] for _ in range(20)
                ]

                server.stop()
                down = client.post("/api/tasks/steady/trigger")
                assert down.status_code == 503, down.text
                assert "Retry-After" in down.headers
                assert client.get("/api/tasks/steady").status_code == 503

                time.sleep(2)
                server.start()

                def accepting() -> bool:
                    answer = client.post("/api/tasks/steady/trigger")
                    if answer.status_code == 202:
                        accepted.append(answer.json()["run_id"])
                        return True
                    return False

                wait_until(accepting, 60, f"commands did not recover: {cluster.logs()}")
                accepted += [
                    client.post("/api/tasks/steady/trigger").json()["run_id"] for _ in range(10)
                ]

                def all_done() -> bool:
                    runs = client.get("/api/runs", params={"task": "steady", "limit": 500}).json()
                    done = {r["id"] for r in runs["items"] if r["status"] == "succeeded"}
                    return set(accepted) <= done

                wait_until(all_done, 90, f"acknowledged runs were lost: {cluster.logs()}")
            for name, process in cluster.processes.items():
                assert process.poll() is None, f"{name} died instead of recovering"
        finally:
            cluster.stop_all()
