"""Alerting across real processes: a failed run reaches a webhook from the projector process,
and a projector killed with SIGKILL resumes from its stored offset when it starts again."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from tests.alert_receiver import SECRET, Receiver, verify
from tests.e2e.cluster import Cluster, redis_cluster, wait_until


def _failed_run(client: httpx.Client) -> str:
    response = client.post("/api/tasks/doomed/trigger")
    assert response.status_code in (201, 202), response.text
    return str(response.json()["run_id"])


def _start(cluster: Cluster) -> None:
    cluster.start_api()
    cluster.start("projector", "projector")
    cluster.start("dispatcher", "dispatcher")
    cluster.start("worker", "worker")
    cluster.wait_for_workers(1)


def test_a_failed_run_is_delivered_signed_and_a_killed_projector_resumes_from_its_offset(
    tmp_path: Path,
) -> None:
    receiver = Receiver()
    receiver.up()
    try:
        with redis_cluster(tmp_path) as cluster, httpx.Client(base_url=cluster.url) as client:
            _start(cluster)
            assert client.post("/api/tasks", json={"name": "doomed", "command": "false"}).is_success
            created = client.post(
                "/api/subscriptions",
                json={"url": receiver.url, "secret": SECRET, "event_types": ["TaskRun.Failed"]},
            )
            assert created.status_code == 201, created.text
            path = f"/api/subscriptions/{created.json()['id']}"
            first = _failed_run(client)
            wait_until(lambda: len(receiver.acked) == 1, 30, f"no delivery: {cluster.logs()}")
            wait_until(lambda: client.get(path).json()["delivered"] == 1, 10, "not counted")

            cluster.signal("projector", signal.SIGKILL)  # a crash: nothing is flushed
            cluster.processes["projector"].wait(10)
            second = _failed_run(client)
            cluster.start("projector", "projector")
            wait_until(lambda: len(receiver.acked) == 2, 30, f"not resumed: {cluster.logs()}")
            wait_until(lambda: client.get(path).json()["lag"] == 0, 10, "offset not at head")

            shown = client.get(path).json()
            assert shown["delivered"] == 2 and shown["dead_lettered"] == 0
    finally:
        receiver.down()

    runs = [json.loads(body)["event"]["aggregate_id"] for _, body in receiver.received]
    assert runs == [first, second], "each failed run once, in order, none again after the crash"
    assert all(verify(headers, body) for headers, body in receiver.received)
    assert len(set(receiver.acked)) == 2
