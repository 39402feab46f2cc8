"""While PostgreSQL is down every request answers 503 + Retry-After within the timeout."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import Cluster, wait_until
from tests.e2e.conftest import free_port
from tests.e2e.test_connection_budget import create_task
from tests.private_postgres import private_postgres
from tests.servers import redis_url, unique_prefix

TIMEOUT = 2.0  # [database] connection_timeout_seconds in this test
MARGIN = 1.0  # request handling, thread hand-offs, a slow shared machine
REQUESTS = [
    ("GET", "/api/tasks/outage", None),
    ("GET", "/api/runs", None),
    ("POST", "/api/tasks/outage/trigger", None),
    ("POST", "/api/tasks", {"name": "during-outage", "command": "true"}),
    ("GET", "/health", None),
    ("GET", "/api/tasks", None),
]


def timed(
    client: httpx.Client, method: str, path: str, body: object
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.request(method, path, json=body)
    return response, time.monotonic() - started


@pytest.mark.timeout(300)
def test_every_request_answers_503_within_the_connection_timeout_and_service_resumes(
    tmp_path: Path,
) -> None:
    bus_env = {
        "SCHEDULER_MESSAGE_QUEUE__TYPE": "redis",
        "SCHEDULER_MESSAGE_QUEUE__URL": redis_url(),
        "SCHEDULER_MESSAGE_QUEUE__PREFIX": unique_prefix(),
        "SCHEDULER_DATABASE__CONNECTION_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    with private_postgres(free_port()) as server:
        cluster = Cluster(workdir=tmp_path, database_url=server.url, bus_env=bus_env)
        try:
            cluster.start_api()
            cluster.start("projector", "projector")
            cluster.start("dispatcher0", "dispatcher")
            cluster.start("worker0", "worker")
            cluster.wait_for_workers(1)
            with httpx.Client(base_url=cluster.url, timeout=30) as client:
                create_task(client, {"name": "outage", "command": "true"})
                before = client.post("/api/tasks/outage/trigger").json()["run_id"]

                server.stop()
                answers = [timed(client, *request) for _ in range(3) for request in REQUESTS]
                with ThreadPoolExecutor(8) as pool:  # at once, too: none waits for another
                    answers += pool.map(lambda r: timed(client, *r), REQUESTS * 2)
                for response, elapsed in answers:
                    what = f"{response.request.method} {response.request.url.path}"
                    assert response.status_code == 503, (what, response.text)
                    assert int(response.headers["Retry-After"]) >= 1, what
                    assert elapsed <= TIMEOUT + MARGIN, (what, elapsed)
                # /metrics answers, in time, without the view gauges (docs/operations.md).
                scrape, elapsed = timed(client, "GET", "/metrics", None)
                assert scrape.status_code == 200 and elapsed <= TIMEOUT + MARGIN, elapsed
                assert "scheduler_runs{" not in scrape.text
                health = next(r for r, _ in answers if r.request.url.path == "/health").json()
                assert health["status"] == "degraded"
                assert health["checks"]["event_store"]["status"] == "down"

                server.start()
                back = time.monotonic()
                wait_until(
                    lambda: client.get("/api/tasks/outage").status_code == 200,
                    30,
                    f"reads did not resume: {cluster.logs()}",
                )
                # Background threads resumed too: a new run is dispatched, run and projected.
                after = client.post("/api/tasks/outage/trigger")
                assert after.status_code == 202, after.text
                resumed = time.monotonic() - back
                for run_id in (before, after.json()["run_id"]):
                    wait_until(
                        lambda run_id=run_id: (
                            client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded"
                        ),
                        60,
                        f"run {run_id} did not finish after the outage: {cluster.logs()}",
                    )
                assert client.get("/health").status_code == 200
            for name, process in cluster.processes.items():
                assert process.poll() is None, f"{name} died instead of recovering"
        finally:
            cluster.stop_all()
    assert resumed < 15, resumed
