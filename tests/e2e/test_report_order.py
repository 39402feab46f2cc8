"""Three dispatchers share the reports stream: every run still has its whole history."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import bus_cluster, wait_until
from tests.e2e.conftest import free_port
from tests.e2e.test_distributed import run_count

RUNS = 300
# These tests are about reports, not liveness: a worker starved of CPU for more than the
# default half interval of slack must not be taken for lost and have its runs requeued,
# which would add a Requeued to their histories.
PATIENT = {"SCHEDULER_DISPATCHER__LEASE_HEARTBEATS": "5"}
HISTORY = ["TaskRun.Requested", "TaskRun.Assigned", "TaskRun.Started", "TaskRun.Succeeded"]


@pytest.mark.parametrize("bus", ["redis", "rabbitmq"])
def test_with_three_dispatchers_every_finished_run_has_its_start_recorded(
    tmp_path: Path, bus: str
) -> None:
    # The start and end reports of one attempt are published a few milliseconds apart, so
    # with three consumers of the reports they are often read, and saved, by different ones.
    with bus_cluster(tmp_path, bus) as cluster:
        cluster.start_api()
        cluster.start("projector", "projector")
        metrics_ports = [free_port() for _ in range(3)]
        for i, port in enumerate(metrics_ports):
            cluster.start(
                f"dispatcher{i}",
                "dispatcher",
                SCHEDULER_OBSERVABILITY__METRICS_PORT=str(port),
                **PATIENT,
            )
        for i in range(2):
            cluster.start(f"worker{i}", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="8")
        cluster.wait_for_workers(2)
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            assert client.post("/api/tasks", json={"name": "quick", "command": "true"}).is_success
            with ThreadPoolExecutor(8) as pool:
                run_ids = list(
                    pool.map(
                        lambda _: client.post("/api/tasks/quick/trigger").json()["run_id"],
                        range(RUNS),
                    )
                )
            wait_until(
                lambda: run_count(client, "quick", "succeeded") == RUNS,
                180,
                f"not all runs succeeded: {client.get('/api/system/stats').json()}",
            )
            with ThreadPoolExecutor(8) as pool:
                histories = dict(
                    zip(run_ids, pool.map(lambda r: _history(client, r), run_ids), strict=True)
                )
            incomplete = {r: h for r, h in histories.items() if h != HISTORY}
            assert not incomplete, (
                f"{len(incomplete)} of {RUNS} runs lack a transition, e.g. "
                f"{next(iter(incomplete.items()))}"
            )
            no_start = [
                r for r in run_ids if client.get(f"/api/runs/{r}").json()["started_at"] is None
            ]
            assert not no_start, f"{len(no_start)} of {RUNS} runs have no started_at"
        # The interleaving did happen: start reports heard after their attempt's end (already
        # recorded from the final report) were counted as duplicates, not applied again.
        duplicates = sum(
            _counter(port, "scheduler_duplicate_reports_total") for port in metrics_ports
        )
        assert duplicates > 0, "no start report arrived late: the test proved nothing"


@pytest.mark.parametrize("bus", ["redis", "rabbitmq"])
def test_a_dispatcher_killed_with_reports_in_hand_loses_none_of_them(
    tmp_path: Path, bus: str
) -> None:
    with bus_cluster(tmp_path, bus) as cluster:
        cluster.start_api()
        cluster.start("projector", "projector")
        for i in range(3):
            cluster.start(f"dispatcher{i}", "dispatcher", **PATIENT)
        for i in range(2):
            cluster.start(f"worker{i}", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="8")
        cluster.wait_for_workers(2)
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            client.post("/api/tasks", json={"name": "steady", "command": "sleep 0.2"})
            with ThreadPoolExecutor(4) as pool:
                run_ids = list(
                    pool.map(
                        lambda _: client.post("/api/tasks/steady/trigger").json()["run_id"],
                        range(150),
                    )
                )
            wait_until(
                lambda: run_count(client, "steady", "succeeded") >= 20,
                60,
                "no run finished",
            )
            cluster.signal("dispatcher1", signal.SIGKILL)  # holding unacknowledged reports
            wait_until(
                lambda: run_count(client, "steady", "succeeded") == 150,
                120,
                f"runs were lost with the dispatcher: {run_count(client, 'steady')}",
            )
            with ThreadPoolExecutor(8) as pool:
                histories = list(pool.map(lambda r: _history(client, r), run_ids))
        assert [h for h in histories if h != HISTORY] == []


def _history(client: httpx.Client, run_id: str) -> list[str]:
    # Duplicates and stale reports change nothing; they are not part of the run's story.
    events = client.get(f"/api/runs/{run_id}/events").json()
    return [e["type"] for e in events if e["type"] != "TaskRun.StaleReportRejected"]


def _counter(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))
