"""A worker in another language: a plain HTTP client registers, polls, reports, and dies.

The test itself is the foreign worker: it speaks only the HTTP protocol of
docs/worker-protocol.md to real api, projector and dispatcher processes on PostgreSQL and
Redis, with a `worker`-role key.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.cluster import Cluster, redis_cluster, wait_until


class ForeignWorker:
    """What a worker written in any language does, over HTTP only."""

    def __init__(self, client: httpx.Client, key: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {key}"}
        body = {"name": f"foreign-{uuid.uuid4().hex[:6]}", "executors": ["shell"]}
        answers: list[httpx.Response] = []

        def registered() -> bool:  # a new key reaches the API within 2 s (docs/security.md)
            answers.append(client.post("/api/workers", json=body, headers=self.headers))
            return answers[-1].status_code != 401

        wait_until(registered, 15, "the new worker key was never accepted")
        assert answers[-1].status_code == 201, answers[-1].text
        self.id = answers[-1].json()["id"]
        self.dead = threading.Event()
        self.running: list[dict[str, Any]] = []
        self._beats = threading.Thread(target=self._beat, daemon=True)
        self._beats.start()

    def _beat(self) -> None:
        while not self.dead.wait(0.5):  # the cluster's heartbeat interval is 1 s
            self.client.post(
                f"/api/workers/{self.id}/heartbeat",
                json={"running": self.running},
                headers=self.headers,
            )

    def poll(self, wait: float = 10) -> dict[str, Any]:
        answer = self.client.post(
            f"/api/workers/{self.id}/poll", json={"wait_seconds": wait}, headers=self.headers
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def next_delivery(self) -> dict[str, Any]:
        for _ in range(5):
            deliveries = self.poll()["deliveries"]
            if deliveries:
                return deliveries[0]
        raise AssertionError("no delivery reached the foreign worker")

    def report(self, delivery: dict[str, Any], **body: Any) -> httpx.Response:
        path = f"/api/runs/{delivery['run_id']}/attempts/{delivery['attempt']}/report"
        return self.client.post(path, json={"worker_id": self.id, **body}, headers=self.headers)

    def die(self) -> None:
        self.dead.set()


def start(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.start("projector", "projector")
    cluster.start("dispatcher0", "dispatcher")


def test_a_foreign_worker_runs_a_delivery_and_a_killed_one_loses_its_run_to_another(
    tmp_path: Path,
) -> None:
    with redis_cluster(tmp_path) as cluster:
        start(cluster)
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            key = client.post("/api/keys", json={"name": "foreign", "role": "worker"}).json()
            worker = ForeignWorker(client, key["key"])
            cluster.wait_for_workers(1)
            assert (
                client.post("/api/tasks", json={"name": "hi", "command": "echo hi"}).status_code
                == 201
            )

            first = client.post("/api/tasks/hi/trigger").json()["run_id"]
            delivery = worker.next_delivery()
            assert (delivery["run_id"], delivery["attempt"], delivery["command"]) == (
                first,
                1,
                "echo hi",
            )
            started = worker.report(delivery, status="started", pid=4242)
            assert started.status_code == 200 and started.json()["recorded"], started.text
            done = worker.report(delivery, status="succeeded", exit_code=0, output="hi from Go")
            assert done.status_code == 200 and done.json()["recorded"], done.text
            run = client.get(f"/api/runs/{first}").json()
            assert (run["status"], run["worker_id"], run["exit_code"]) == (
                "succeeded",
                worker.id,
                0,
            )
            assert "hi from Go" in run["output"]

            second = client.post("/api/tasks/hi/trigger").json()["run_id"]
            taken = worker.next_delivery()
            assert taken["run_id"] == second
            assert worker.report(taken, status="started").status_code == 200
            worker.running = [{"run_id": second, "attempt": 1}]
            worker.die()  # no more heartbeats: its lease runs out

            wait_until(
                lambda: client.get(f"/api/workers/{worker.id}").json()["status"] == "lost",
                15,
                f"the silent foreign worker was never declared lost: {cluster.logs()}",
            )
            cluster.start("worker0", "worker")
            wait_until(
                lambda: client.get(f"/api/runs/{second}").json()["status"] == "succeeded",
                20,
                f"the run never moved to the bus worker: {cluster.logs()}",
            )
            moved = client.get(f"/api/runs/{second}").json()
            assert moved["attempt"] == 2 and moved["worker_id"] != worker.id
            late = worker.report(taken, status="succeeded", exit_code=0)
            assert late.status_code == 409 and "register again" in late.text
