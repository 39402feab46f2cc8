"""Each process holds at most `[database] pool_size` PostgreSQL connections, counted by name."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.bus_factories import open_bus
from tests.e2e.cluster import Cluster, redis_cluster, wait_until
from tests.e2e.conftest import running_scheduler
from tests.e2e.test_distributed import run_count
from tests.pg_activity import ConnectionSampler
from tests.servers import fresh_postgres_database, fresh_role_database, redis_url

DEFAULT_BUDGET = 5
NAMES = {
    "api": "scheduler-api",
    "projector": "scheduler-projector",
    "dispatcher0": "scheduler-dispatcher:dispatcher0",
}


def create_task(client: httpx.Client, body: dict[str, object]) -> None:
    """Create a task (201 however late the view) and wait until the views show it."""
    answer = client.post("/api/tasks", json=body)
    assert answer.status_code == 201, answer.text
    wait_until(
        lambda: client.get(f"/api/tasks/{body['name']}").status_code == 200,
        30,
        f"task {body['name']} never appeared",
    )


def busy(client: httpx.Client, task: str, runs: int) -> list[str]:
    """Trigger `runs` runs from 8 threads and wait until they all succeeded."""
    create_task(client, {"name": task, "command": "true"})
    with ThreadPoolExecutor(8) as pool:
        triggered = list(
            pool.map(
                lambda _: client.post(f"/api/tasks/{task}/trigger").json()["run_id"], range(runs)
            )
        )
    wait_until(
        lambda: run_count(client, task, "succeeded") == runs,
        120,
        f"not all runs succeeded: {run_count(client, task)}",
    )
    return triggered


@pytest.mark.timeout(300)
@pytest.mark.parametrize("pool_size", [3, 8])  # the default (5): the 300-run test below
def test_api_projector_and_dispatcher_each_stay_within_pool_size(
    tmp_path: Path, pool_size: int
) -> None:
    budget = pool_size
    with redis_cluster(tmp_path) as cluster:
        cluster.defaults["SCHEDULER_DATABASE__POOL_SIZE"] = str(pool_size)
        with ConnectionSampler(cluster.database_url) as sampler:
            cluster.start_api()
            cluster.start("projector", "projector")
            cluster.start("dispatcher0", "dispatcher")
            cluster.start("worker0", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="8")
            cluster.wait_for_workers(1)
            with httpx.Client(base_url=cluster.url, timeout=30) as client:
                busy(client, "budget", 100)
            idle = sampler.now()
        peaks = dict(sampler.peaks)
    # Every connection to the database is one of ours, and named (workers hold none).
    assert set(peaks) == set(NAMES.values()), peaks
    assert all(1 <= n <= budget for n in peaks.values()), (budget, peaks)
    assert all(1 <= idle.get(name, 0) <= budget for name in NAMES.values()), (budget, idle)


@pytest.mark.timeout(120)
def test_scheduler_up_stays_within_the_default_budget(tmp_path: Path) -> None:
    with fresh_postgres_database() as url, ConnectionSampler(url) as sampler:
        env = {"SCHEDULER_DATABASE__URL": url}
        with (
            running_scheduler(tmp_path, env) as scheduler,
            httpx.Client(base_url=scheduler.url, timeout=30) as client,
        ):
            busy(client, "up-budget", 50)
            idle = sampler.now()
        peaks = dict(sampler.peaks)
    assert set(peaks) == {"scheduler-up"}, peaks
    assert 1 <= peaks["scheduler-up"] <= DEFAULT_BUDGET, peaks
    assert 1 <= idle["scheduler-up"] <= DEFAULT_BUDGET, idle


@pytest.mark.timeout(400)
def test_a_cluster_completes_300_runs_under_a_role_limited_to_20_connections(
    tmp_path: Path,
) -> None:
    # api + projector + 2 dispatchers at 5 each: exactly the 20 the role may open.
    with open_bus("redis") as bus, fresh_role_database(20) as url:
        bus_env = {
            "SCHEDULER_MESSAGE_QUEUE__TYPE": "redis",
            "SCHEDULER_MESSAGE_QUEUE__URL": redis_url(),
            "SCHEDULER_MESSAGE_QUEUE__PREFIX": bus.prefix,
        }
        cluster = Cluster(workdir=tmp_path, database_url=url, bus_env=bus_env)
        try:
            with ConnectionSampler(url) as sampler:
                cluster.start_api()
                cluster.start("projector", "projector")
                cluster.start("dispatcher0", "dispatcher")
                cluster.start("dispatcher1", "dispatcher")
                for i in range(3):
                    cluster.start(
                        f"worker{i}", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="8"
                    )
                cluster.wait_for_workers(3)
                with httpx.Client(base_url=cluster.url, timeout=30) as client:
                    triggered = busy(client, "limited", 300)
                idle = sampler.now()
            assert len(set(triggered)) == 300
            for name, process in cluster.processes.items():
                assert process.poll() is None, f"{name} died: {cluster.logs()}"
            refused = [
                n for n in cluster.processes if "too many connections" in cluster.log(n, 10**6)
            ]
            assert refused == [], f"refused by the role's limit: {refused}"
        finally:
            cluster.stop_all()
    assert set(sampler.peaks) == {*NAMES.values(), "scheduler-dispatcher:dispatcher1"}, (
        sampler.peaks
    )
    assert all(n <= DEFAULT_BUDGET for n in sampler.peaks.values()), sampler.peaks
    # Without a pool_size setting each process keeps its pool (at most the default) when idle.
    assert all(1 <= idle.get(name, 0) <= DEFAULT_BUDGET for name in sampler.peaks), idle
