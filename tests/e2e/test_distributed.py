"""Separate processes on PostgreSQL and Redis Streams: each run once, recovery, fencing."""

from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.e2e.cluster import Cluster, redis_cluster, wait_until


def start_cluster(cluster: Cluster, dispatchers: int, workers: int, **worker_env: str) -> None:
    cluster.start_api()
    cluster.start("projector", "projector")
    for i in range(dispatchers):
        cluster.start(f"dispatcher{i}", "dispatcher")
    for i in range(workers):
        cluster.start(f"worker{i}", "worker", **worker_env)
    cluster.wait_for_workers(workers)


def runs_of(client: httpx.Client, task: str, status: str | None = None) -> dict:
    params = {"task": task, "limit": 500, **({"status": status} if status else {})}
    return client.get("/api/runs", params=params).json()


def run_count(client: httpx.Client, task: str, status: str | None = None) -> int:
    """How many runs of `task` (in `status`) there are: the total of a one-item page.

    Polls ask for this, not for `runs_of`'s 500 items: serialising hundreds of runs ten
    times a second took CPU from the processes under test.
    """
    params = {"task": task, "limit": 1, **({"status": status} if status else {})}
    return int(client.get("/api/runs", params=params).json()["total"])


def test_two_dispatchers_and_three_workers_run_500_runs_each_exactly_once(
    tmp_path: Path,
) -> None:
    with redis_cluster(tmp_path) as cluster:
        start_cluster(cluster, dispatchers=2, workers=3, SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="8")
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            body = {"name": "many", "command": 'echo "$SCHEDULER_RUN_ID" >> ../ledger.txt'}
            body["working_dir"] = str(tmp_path / "work")
            (tmp_path / "work").mkdir()
            assert client.post("/api/tasks", json=body).status_code == 201
            with ThreadPoolExecutor(8) as pool:
                triggered = list(
                    pool.map(
                        lambda _: client.post("/api/tasks/many/trigger").json()["run_id"],
                        range(500),
                    )
                )
            wait_until(
                lambda: run_count(client, "many", "succeeded") == 500,
                120,
                f"not all runs succeeded: {client.get('/api/system/stats').json()}",
            )
        ledger = (tmp_path / "ledger.txt").read_text().split()
        assert sorted(ledger) == sorted(triggered), "every run executed exactly once"
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            runs = runs_of(client, "many")["items"]
            assert {r["attempt"] for r in runs} == {1}, "no run needed a second attempt"
            assert len({r["worker_id"] for r in runs}) == 3, "every worker took part"


def test_a_killed_workers_run_restarts_elsewhere_within_ten_seconds(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        # Default heartbeat (5 s) and lease: the seed asks for recovery < 30 s, we promise 10.
        cluster.defaults["SCHEDULER_WORKER__HEARTBEAT_INTERVAL_SECONDS"] = "5"
        start_cluster(cluster, dispatchers=1, workers=2, SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="1")
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            client.post("/api/tasks", json={"name": "slow", "command": "sleep 4; echo done"})
            run_id = client.post("/api/tasks/slow/trigger").json()["run_id"]
            wait_until(
                lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "running",
                10,
                "the run never started",
            )
            first = client.get(f"/api/runs/{run_id}").json()
            victim = next(
                n
                for n, p in cluster.processes.items()
                if n.startswith("worker") and _worker_name(client, first["worker_id"]) == n
            )
            killed_at = time.monotonic()
            cluster.signal(victim, signal.SIGKILL)
            wait_until(
                lambda: (
                    client.get(f"/api/runs/{run_id}").json()["attempt"] == 2
                    and client.get(f"/api/runs/{run_id}").json()["status"] == "running"
                ),
                10,
                f"the run was not restarted within 10 s: {cluster.logs()}",
            )
            restarted_after = time.monotonic() - killed_at
            run = client.get(f"/api/runs/{run_id}").json()
            assert run["worker_id"] != first["worker_id"]
            wait_until(
                lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded",
                15,
                "the restarted run did not finish",
            )
            types = [e["type"] for e in client.get(f"/api/runs/{run_id}/events").json()]
            assert "TaskRun.Requeued" in types
            lost = client.get(f"/api/workers/{first['worker_id']}").json()
            assert lost["status"] == "lost"
            assert_the_log_query_tells_the_recovery(client, first["worker_id"])
        assert restarted_after < 10


def assert_the_log_query_tells_the_recovery(client: httpx.Client, victim_id: str) -> None:
    """The queryable log, as an operator would ask it after a worker died."""
    head = client.get("/api/events", params={"limit": 1}).json()["head"]

    def indexed() -> bool:
        answer = client.get("/api/events", params={"type": "Worker.Lost"}).json()
        return answer["indexed_through"] >= head

    wait_until(indexed, 10, "the event index did not catch up")
    assigned = client.get("/api/events", params={"task": "slow", "type": "TaskRun.Assigned"})
    attempts = [
        (e["payload"]["attempt"], e["payload"]["worker_id"]) for e in assigned.json()["items"]
    ]
    assert [a for a, _ in attempts] == [1, 2] and attempts[0][1] == victim_id != attempts[1][1]
    lost = client.get("/api/events", params={"worker_id": victim_id, "type": "Worker.Lost"})
    assert len(lost.json()["items"]) == 1
    late = client.get("/api/events/forensics/assigned-after-lost", params={"worker_id": victim_id})
    assert late.json()["items"] == [], "nothing was assigned to the worker once it was lost"


def _worker_name(client: httpx.Client, worker_id: str) -> str:
    return client.get(f"/api/workers/{worker_id}").json()["name"]


def worker_process_of(cluster: Cluster, client: httpx.Client, worker_id: str) -> str:
    name = _worker_name(client, worker_id)
    assert name in cluster.processes
    return name


def wait_running(client: httpx.Client, run_id: str, attempt: int = 1) -> dict:
    def running() -> bool:
        run = client.get(f"/api/runs/{run_id}").json()
        return run["status"] == "running" and run["attempt"] == attempt

    wait_until(running, 15, f"run {run_id} attempt {attempt} never ran")
    return client.get(f"/api/runs/{run_id}").json()


def test_a_stopped_worker_past_its_lease_is_fenced_when_it_wakes(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        start_cluster(cluster, dispatchers=1, workers=2, SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="1")
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            client.post("/api/tasks", json={"name": "frozen", "command": "sleep 6; echo late"})
            run_id = client.post("/api/tasks/frozen/trigger").json()["run_id"]
            first = wait_running(client, run_id)
            frozen = worker_process_of(cluster, client, first["worker_id"])
            pid = client.get(f"/api/runs/{run_id}/events").json()[2]["payload"]["pid"]
            cluster.signal(frozen, signal.SIGSTOP)
            second = wait_running(client, run_id, attempt=2)
            assert second["worker_id"] != first["worker_id"]
            cluster.signal(frozen, signal.SIGCONT)
            wait_until(
                lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded",
                20,
                f"the second attempt did not finish: {cluster.logs()}",
            )

            def stale_rejected() -> bool:
                events = client.get(f"/api/runs/{run_id}/events").json()
                return any(
                    e["type"] == "TaskRun.StaleReportRejected" and e["payload"]["attempt"] == 1
                    for e in events
                )

            wait_until(stale_rejected, 20, "the late report of attempt 1 was not rejected")
            run = client.get(f"/api/runs/{run_id}").json()
            assert (run["attempt"], run["worker_id"]) == (2, second["worker_id"])
            from tests.unit.test_executors import live_members

            wait_until(lambda: live_members(pid) == [], 10, "the fenced child is still alive")


def test_a_redis_flushall_under_load_loses_no_run(tmp_path: Path) -> None:
    import redis

    from tests.servers import redis_url

    with redis_cluster(tmp_path) as cluster:
        start_cluster(cluster, dispatchers=1, workers=2, SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="4")
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            client.post("/api/tasks", json={"name": "flushed", "command": "sleep 0.3"})
            runs = [client.post("/api/tasks/flushed/trigger").json()["run_id"] for _ in range(60)]
            wait_until(
                lambda: run_count(client, "flushed", "succeeded") >= 5,
                20,
                "no run finished before the flush",
            )
            # Only this test's keys: other test runs may share the server.
            flushed = redis.Redis.from_url(redis_url())
            prefix = cluster.bus_env["SCHEDULER_MESSAGE_QUEUE__PREFIX"]
            keys = list(flushed.scan_iter(match=f"{prefix}:*"))
            assert keys
            flushed.delete(*keys)
            flushed.close()
            more = [client.post("/api/tasks/flushed/trigger").json()["run_id"] for _ in range(20)]
            wait_until(
                lambda: run_count(client, "flushed", "succeeded") == 80,
                60,
                f"runs were lost with the bus: {run_count(client, 'flushed')} "
                f"{client.get('/api/system/stats').json()} {cluster.logs()}",
            )
            assert len(set(runs + more)) == 80


def test_a_worker_drains_on_sigterm_and_deregisters(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        start_cluster(cluster, dispatchers=1, workers=1, SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="2")
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            client.post("/api/tasks", json={"name": "drained", "command": "sleep 2; echo fine"})
            run_id = client.post("/api/tasks/drained/trigger").json()["run_id"]
            run = wait_running(client, run_id)
            cluster.signal("worker0", signal.SIGTERM)
            wait_until(
                lambda: (
                    client.get(f"/api/workers/{run['worker_id']}").json()["status"]
                    in ("draining", "gone")
                ),
                10,
                "the worker did not report draining",
            )
            assert cluster.processes["worker0"].wait(timeout=15) == 0
            done = client.get(f"/api/runs/{run_id}").json()
            wait_until(
                lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded",
                10,
                f"the running attempt was not finished during the drain: {done}",
            )
            wait_until(
                lambda: client.get(f"/api/workers/{run['worker_id']}").json()["status"] == "gone",
                10,
                "the drained worker did not deregister",
            )


def test_drain_through_the_api_stops_new_work_for_that_worker(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        start_cluster(cluster, dispatchers=1, workers=2)
        with httpx.Client(base_url=cluster.url, timeout=10) as client:
            workers = client.get("/api/workers").json()
            drained = workers[0]["id"]
            answer = client.post(f"/api/workers/{drained}/drain")
            # An idle worker may finish draining and leave before the answer is read.
            assert answer.status_code == 200 and answer.json()["status"] in ("draining", "gone")
            client.post("/api/tasks", json={"name": "after-drain", "command": "true"})
            runs = [
                client.post("/api/tasks/after-drain/trigger").json()["run_id"] for _ in range(5)
            ]
            wait_until(
                lambda: run_count(client, "after-drain", "succeeded") == 5,
                20,
                "runs did not finish on the remaining worker",
            )
            assert {client.get(f"/api/runs/{r}").json()["worker_id"] for r in runs} == {
                workers[1]["id"]
            }
            wait_until(
                lambda: client.get(f"/api/workers/{drained}").json()["status"] == "gone",
                10,
                "the drained worker did not leave",
            )


def test_the_same_processes_run_on_rabbitmq_switched_by_configuration(tmp_path: Path) -> None:
    from tests.e2e.cluster import rabbitmq_cluster
    from tests.e2e.conftest import free_port

    metrics_port = free_port()
    with rabbitmq_cluster(tmp_path) as cluster:
        cluster.start_api()
        cluster.start("projector", "projector")
        cluster.start(
            "dispatcher0", "dispatcher", SCHEDULER_OBSERVABILITY__METRICS_PORT=str(metrics_port)
        )
        for i in range(2):
            cluster.start(f"worker{i}", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="4")
        cluster.wait_for_workers(2)
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            client.post("/api/tasks", json={"name": "rabbit", "command": "echo hop"})
            runs = [client.post("/api/tasks/rabbit/trigger").json()["run_id"] for _ in range(50)]
            wait_until(
                lambda: run_count(client, "rabbit", "succeeded") == 50,
                60,
                f"runs did not finish on RabbitMQ: {cluster.logs()}",
            )
            assert {r["id"] for r in runs_of(client, "rabbit")["items"]} == set(runs)
            health = client.get("/health").json()["checks"]["message_queue"]
            assert health == {"status": "ok", "type": "rabbitmq"}
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "scheduler_dispatch_latency_seconds_count" in metrics
        assert 'scheduler_circuit_state{breaker="dispatcher:database"} 0.0' in metrics


def test_a_broadcast_run_gives_every_worker_one_shard_with_its_index(tmp_path: Path) -> None:
    with redis_cluster(tmp_path) as cluster:
        start_cluster(cluster, dispatchers=1, workers=3)
        with httpx.Client(base_url=cluster.url, timeout=30) as client:
            body = {
                "name": "everywhere",
                "command": 'echo "shard $SCHEDULER_SHARD_INDEX of $SCHEDULER_SHARD_TOTAL"',
                "routing_strategy": "broadcast",
            }
            assert client.post("/api/tasks", json=body).status_code == 201
            run_id = client.post("/api/tasks/everywhere/trigger").json()["run_id"]
            wait_until(
                lambda: client.get(f"/api/runs/{run_id}").json()["status"] == "succeeded",
                30,
                f"broadcast did not finish: {runs_of(client, 'everywhere')}",
            )
            shards = [r for r in runs_of(client, "everywhere")["items"] if r["parent_run_id"]]
            stats = client.get("/api/tasks/everywhere").json()["stats"]
        assert (stats["runs_total"], stats["runs_succeeded"]) == (1, 1), "shards count once"
        assert sorted(r["output"].strip() for r in shards) == [
            "shard 0 of 3",
            "shard 1 of 3",
            "shard 2 of 3",
        ]
        assert len({r["worker_id"] for r in shards}) == 3, "one shard per worker"
        assert {r["parent_run_id"] for r in shards} == {run_id}
        assert all(r["status"] == "succeeded" for r in shards)
