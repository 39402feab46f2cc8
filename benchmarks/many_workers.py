"""100 registered workers, one dispatcher: do assignment and lease checks keep up?

Run: `.venv/bin/python benchmarks/many_workers.py [--quick] [--workers 100]`. The cluster is the
distributed group's (api + projector + one dispatcher on PostgreSQL and Redis Streams) without
worker processes. The workers are the real `application.worker_agent.WorkerAgent`, W of them in
this process, each with its own `RedisStreamsBus` connection, registering, heartbeating every
second and reading its inbox over Redis like a worker process; only the executor is a stand-in
that succeeds at once (so the numbers are the dispatcher's, not the tasks'). Measured:

- `idle`: W workers heartbeating for a window; the dispatcher's CPU share over it (from
  /proc), and no worker may be marked lost (a `Worker.Lost` event) — the lease checks keep up;
- `burst`: M runs of one task (bulk endpoint, or single triggers), every one must succeed;
  requested→assigned p50/p99 (server stamps), runs/s and how many workers got work;
- and again no `Worker.Lost` over the whole benchmark.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
from enqueue import MODES, enqueue
from run import (
    Cluster,
    _succeeded_runs,
    _timestamp,
    _wait_all_succeeded,
    create_task_over_http,
    distributed_cluster,
    latency_summary,
    log,
    machine_info,
    redis_url,
    write_results,
)

from adapters.executors.model import ExecutionResult
from adapters.redis_bus import RedisStreamsBus
from application.messages import Delivery
from application.worker_agent import WorkerAgent
from domain.worker import WorkerProfile

FULL = {"workers": 100, "window_s": 60.0, "runs": 2_000}
QUICK = {"workers": 100, "window_s": 15.0, "runs": 300}
SLOTS = 4  # per fake worker
HEARTBEAT_S = 1.0
LOST_EVENTS = "SELECT count(*) FROM scheduler_events WHERE topic LIKE '%%Worker.Lost'"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class InstantExecutor:
    """Succeeds at once without running anything: the cost left is the scheduler's."""

    def execute(
        self, delivery: Delivery, on_started: Any, on_output: Any = None
    ) -> ExecutionResult:
        """Report the start, then success."""
        on_started(os.getpid())
        return ExecutionResult(0, "", None, False, 0.0, os.getpid())

    def cancel(self, run_id: Any, attempt: int) -> bool:
        """Nothing runs, so nothing to cancel."""
        return False

    def cancel_all(self) -> int:
        """Nothing runs."""
        return 0


@contextmanager
def fake_workers(prefix: str, count: int) -> Iterator[list[WorkerAgent]]:
    """`count` WorkerAgents on their own bus connections, each in a thread; stopped after."""
    stop = threading.Event()
    agents: list[WorkerAgent] = []
    buses: list[RedisStreamsBus] = []
    threads: list[threading.Thread] = []
    try:
        for i in range(count):
            bus = RedisStreamsBus(redis_url(), prefix=prefix)
            profile = WorkerProfile(f"fake{i}", "bench", ["shell"], max_concurrent_tasks=SLOTS)
            agent = WorkerAgent(
                profile, bus, InstantExecutor(), heartbeat_interval=HEARTBEAT_S, poll_interval=0.5
            )
            buses.append(bus)
            agents.append(agent)
            thread = threading.Thread(target=agent.run_forever, args=(stop, 5.0), daemon=True)
            thread.start()
            threads.append(thread)
        yield agents
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        for bus in buses:
            bus.close()


def wait_active(base: str, count: int, timeout: float) -> float:
    """Seconds until GET /api/workers?status=active lists `count` workers."""
    began = time.perf_counter()
    active = 0
    with httpx.Client(base_url=base, timeout=10) as http:
        while time.perf_counter() - began < timeout:
            active = len(http.get("/api/workers", params={"status": "active"}).json())
            if active >= count:
                return time.perf_counter() - began
            time.sleep(0.2)
    raise RuntimeError(f"only {active}/{count} workers active after {timeout:.0f}s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def lost_events(cluster: Cluster) -> int:
    """How many `Worker.Lost` events the log holds."""
    with psycopg.connect(cluster.database_url, connect_timeout=5) as connection:
        row = connection.execute(LOST_EVENTS).fetchone()
    return int(row[0]) if row else 0


def idle_window(cluster: Cluster, window_s: float) -> dict[str, Any]:
    """The dispatcher's CPU share while only heartbeats arrive, and lost workers meanwhile."""
    pid = cluster.processes["dispatcher0"].pid
    lost_before, cpu_before = lost_events(cluster), cpu_seconds(pid)
    time.sleep(window_s)
    used = cpu_seconds(pid) - cpu_before
    return {
        "window_s": window_s,
        "dispatcher_cpu_share": round(used / window_s, 3),
        "lost_during": lost_events(cluster) - lost_before,
    }


def burst(cluster: Cluster, runs: int, mode: str, clients: int) -> dict[str, Any]:
    """M no-op runs through the fake workers; requested→assigned and spread over workers."""
    ref = create_task_over_http(cluster.url, "bench-many")
    began = time.perf_counter()
    run_ids = enqueue(cluster.url, ref, runs, mode, {}, clients)
    _wait_all_succeeded(cluster.url, "bench-many", runs, began, 600)
    elapsed = time.perf_counter() - began
    listed = _succeeded_runs(cluster.url, "bench-many", runs)
    if {run["id"] for run in listed} != set(run_ids):
        raise RuntimeError("the succeeded runs listed are not the runs requested")
    waits = [
        _timestamp(run["assigned_at"]) - _timestamp(run["requested_at"])  # type: ignore[operator]
        for run in listed
    ]
    return {
        "runs": runs,
        "enqueue": mode,
        "runs_per_s": round(runs / elapsed, 1),
        "requested_to_assigned": latency_summary(waits),
        "workers_used": len({run["worker_id"] for run in listed}),
    }


def run_many_workers(quick: bool, workers: int | None = None, mode: str = "bulk") -> dict[str, Any]:
    """The whole benchmark on one cluster; what run.py's `many_workers` group stores."""
    sizes = dict(QUICK if quick else FULL)
    sizes["workers"] = workers or sizes["workers"]
    began = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "sizes": sizes,
        "machine": machine_info(with_redis=True),
        "workers": f"{sizes['workers']} in-process WorkerAgents × {SLOTS} slots, "
        f"{HEARTBEAT_S:.0f} s heartbeats, instant executor",
    }
    with distributed_cluster(workers=0) as cluster, fake_workers(cluster.prefix, sizes["workers"]):
        results["registered_in_s"] = round(wait_active(cluster.url, sizes["workers"], 120), 1)
        log(f"  {sizes['workers']} workers active in {results['registered_in_s']}s")
        results["idle"] = idle_window(cluster, sizes["window_s"])
        log(f"  idle: {results['idle']}")
        results["burst"] = burst(cluster, sizes["runs"], mode, 8)
        log(f"  burst: {results['burst']}")
        results["lost_total"] = lost_events(cluster)
        cluster.check_alive()
    results["duration_s"] = round(time.perf_counter() - began, 1)
    return results


def many_workers_table(results: dict[str, Any]) -> str:
    """A few lines: the lease checks and the burst."""
    idle, b = results["idle"], results["burst"]
    wait = b["requested_to_assigned"]
    return "\n".join(
        [
            f"Many workers: {results['workers']}; one dispatcher — total "
            f"{results['duration_s']:.0f}s",
            f"  registered: all active {results['registered_in_s']}s after start",
            f"  idle {idle['window_s']:.0f}s: dispatcher CPU {idle['dispatcher_cpu_share']:.0%} "
            f"of a core, workers lost {idle['lost_during']}",
            f"  burst of {b['runs']:,} ({b['enqueue']}): {b['runs_per_s']:,.0f} runs/s, "
            f"requested→assigned p50 {wait['p50_ms']:.0f} ms / p99 {wait['p99_ms']:.0f} ms, "
            f"{b['workers_used']} workers used",
            f"  workers lost over the whole run: {results['lost_total']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 s window, 300 runs")
    parser.add_argument("--workers", type=int, help="fake workers (default 100)")
    parser.add_argument("--enqueue", choices=MODES, default="bulk", help="bulk (default) or single")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    results = run_many_workers(args.quick, args.workers, args.enqueue)
    output = write_results("many_workers", results)
    print(many_workers_table(results))
    print(f"JSON: {output}")
    return 0 if results["lost_total"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
