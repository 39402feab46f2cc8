"""Structured logs of a distributed deployment, read back from one place: GET /api/system/logs."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.e2e.cluster import Cluster, bus_cluster, wait_until


def json_lines(cluster: Cluster, name: str) -> list[dict[str, object]]:
    """The JSON lines a process wrote on stderr."""
    text = (cluster.workdir / f"{name}.log").read_text()
    return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]


# A worker ships its lines over the bus: both brokers carry them to the dispatcher.
@pytest.mark.parametrize("bus", ["redis", "rabbitmq"])
def test_one_run_s_records_from_the_api_the_dispatcher_and_the_worker_are_found_by_run_id(
    tmp_path: Path, bus: str
) -> None:
    with bus_cluster(tmp_path, bus) as cluster:
        cluster.defaults["SCHEDULER_OBSERVABILITY__LOG_FORMAT"] = "json"
        cluster.start_api()
        cluster.start("projector", "projector")
        cluster.start("dispatcher0", "dispatcher")
        cluster.start("worker0", "worker")
        cluster.wait_for_workers(1)
        correlation = str(uuid.uuid4())
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            created = client.post("/api/tasks", json={"name": "logged", "command": "echo hi"})
            assert created.status_code == 201, created.text
            triggered = client.post(
                "/api/tasks/logged/trigger", headers={"X-Correlation-Id": correlation}
            )
            run_id = triggered.json()["run_id"]
            assert triggered.headers["x-correlation-id"] == correlation
            wait_until(
                lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded",
                20,
                "the run did not succeed",
            )

            def records(**params: str) -> list[dict]:
                answer = client.get("/api/system/logs", params={"run_id": run_id, **params})
                assert answer.status_code == 200, answer.text
                return answer.json()["items"]

            wanted = {"api", "dispatcher", "worker"}
            wait_until(
                lambda: wanted <= {r["process"] for r in records()},
                20,
                f"records of {wanted} for the run: {records()}",
            )
            # A worker ships its lines in batches: the end of the attempt may come a batch later.
            worker_lines = {"attempt started", "attempt succeeded"}
            wait_until(
                lambda: worker_lines <= {r["message"] for r in records(process="worker")},
                20,
                f"the worker's lines for the run: {records(process='worker')}",
            )
            found = records()
            from_worker = records(process="worker")
            projector = client.get("/api/system/logs", params={"process": "projector"}).json()

        assert {r["run_id"] for r in found} == {run_id}
        [requested] = [r for r in found if r["process"] == "api"]
        assert requested["message"] == "run requested"
        assert requested["correlation_id"] == correlation
        assert requested["principal"] == "anonymous@loopback"
        assert {r["process"] for r in from_worker} == {"worker"}
        assert {r["message"] for r in from_worker} >= {"attempt started", "attempt succeeded"}
        assert all(r["attempt"] == 1 and r["worker_id"] for r in from_worker)
        assert projector["total"] >= 1  # its start-up line: every process kind ships
        # Each process also writes the same records to stderr as JSON lines.
        api_lines = json_lines(cluster, "api")
        assert any(line.get("run_id") == run_id for line in api_lines)
        assert all({"time", "level", "logger", "message", "pid"} <= set(line) for line in api_lines)
        assert {line["process"] for line in json_lines(cluster, "worker0")} == {"worker"}
