"""Memory: RSS of every process with T tasks in the read model, and the dispatcher's per 1,000.

Run: `.venv/bin/python benchmarks/memory.py [--quick] [--tasks 100000]`. On one fresh database
and Redis prefix the distributed group's processes (api, projector, one dispatcher, 2 workers)
are started twice: first on the empty database (the baseline), then after T tasks were created
in-process (4 threads, through the application's commands) and the projections caught up.
Each task has a cron schedule that does not come due while the benchmark runs (`0 3 1 1 *`,
once a year), so the dispatcher follows every one of them. RSS (VmRSS from /proc) of each
process is read once the cluster is healthy, the API has answered a few reads of the task list
and the dispatcher has beaten for SETTLE_S. Targets (issue 12): every process ≤ 120 MB with
100,000 tasks; the dispatcher's growth ≤ 2 MB per 1,000 tasks.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from run import (
    Cluster,
    cluster_on,
    fresh_database,
    fresh_redis_prefix,
    in_process,
    log,
    machine_info,
    write_results,
)

from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container

FULL_TASKS = 100_000
QUICK_TASKS = 10_000
THREADS = 4
SCHEDULE = "0 3 1 1 *"  # never due while the benchmark runs
SETTLE_S = 5.0
RSS_TARGET_MB = 120.0
PER_1000_TARGET_MB = 2.0
# The loaded cluster is up once the dispatcher has replayed the log (two events a task) and
# the workers show as active: at 100,000 tasks that took more than run.py's 60 s.
LOADED_START_TIMEOUT = 900.0


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cluster_rss(cluster: Cluster) -> dict[str, float]:
    """Settle, touch the read model through the API, then every process's RSS."""
    with httpx.Client(base_url=cluster.url, timeout=60) as http:
        for _ in range(5):
            http.get("/api/tasks", params={"limit": 50}).raise_for_status()
    time.sleep(SETTLE_S)
    cluster.check_alive()
    return {name: round(rss_mb(p.pid), 1) for name, p in sorted(cluster.processes.items())}


def create_scheduled(container: Container, first: int, count: int) -> None:
    """Tasks bench-mem-<first>… with the never-due schedule, one command each."""
    for i in range(first, first + count):
        ctx = CommandContext(actor="bench", now=datetime.now(UTC), correlation_id=uuid.uuid4())
        spec = {"name": f"bench-mem-{i}", "command": "true", "schedule": SCHEDULE}
        container.app.create_task(validate_spec(spec), ctx)


def seed(url: str, tasks: int) -> dict[str, float]:
    """T scheduled tasks from THREADS threads, then the projections caught up."""
    began = time.perf_counter()
    with in_process(url) as container:
        share = -(-tasks // THREADS)
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            chunks = [(i * share, min(share, tasks - i * share)) for i in range(THREADS)]
            for future in [pool.submit(create_scheduled, container, *c) for c in chunks]:
                future.result()
        created = time.perf_counter() - began
        log(f"  created {tasks:,} tasks in {created:.0f}s; catching up projections")
        for runner in container.runners:
            runner.catch_up()
    return {"create_s": round(created, 1), "seed_s": round(time.perf_counter() - began, 1)}


def run_memory(
    quick: bool, tasks: int | None = None, start_timeout: float = LOADED_START_TIMEOUT
) -> dict[str, Any]:
    """Baseline and loaded RSS on one database; what run.py's `memory` group stores."""
    t = tasks or (QUICK_TASKS if quick else FULL_TASKS)
    began = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "tasks": t,
        "schedule": SCHEDULE,
        "machine": machine_info(with_redis=True),
    }
    with fresh_database() as url, fresh_redis_prefix() as prefix:
        with cluster_on(url, prefix) as cluster:
            results["empty_mb"] = cluster_rss(cluster)
        log(f"  empty database: {results['empty_mb']}")
        results["seed"] = seed(url, t)
        starting = time.perf_counter()
        with cluster_on(url, prefix, start_timeout=start_timeout) as cluster:
            results["loaded_startup_s"] = round(time.perf_counter() - starting, 1)
            log(f"  loaded cluster up in {results['loaded_startup_s']}s")
            results["loaded_mb"] = cluster_rss(cluster)
        log(f"  {t:,} tasks: {results['loaded_mb']}")
    growth = results["loaded_mb"]["dispatcher0"] - results["empty_mb"]["dispatcher0"]
    results["dispatcher_mb_per_1000_tasks"] = round(growth / (t / 1000), 3)
    results["max_rss_mb"] = max(results["loaded_mb"].values())
    results["duration_s"] = round(time.perf_counter() - began, 1)
    return results


def memory_table(results: dict[str, Any]) -> str:
    """RSS per process, empty and loaded, and the dispatcher's growth."""
    lines = [
        f"Memory: RSS in MiB, empty database vs {results['tasks']:,} scheduled tasks — total "
        f"{results['duration_s']:.0f}s, loaded cluster up in {results['loaded_startup_s']:.0f}s"
    ]
    for name, loaded in results["loaded_mb"].items():
        lines.append(f"  {name:<12} {results['empty_mb'][name]:>7.1f} → {loaded:>7.1f}")
    lines.append(
        f"  max {results['max_rss_mb']:.1f} MiB (target ≤ {RSS_TARGET_MB:.0f}); dispatcher "
        f"{results['dispatcher_mb_per_1000_tasks']:.2f} MiB per 1,000 tasks "
        f"(target ≤ {PER_1000_TARGET_MB:.0f})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_TASKS:,} tasks")
    parser.add_argument("--tasks", type=int, help=f"tasks (default {FULL_TASKS:,})")
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=LOADED_START_TIMEOUT,
        help=f"seconds for the loaded cluster to come up (default {LOADED_START_TIMEOUT:.0f})",
    )
    args = parser.parse_args(argv)
    if args.tasks is not None and args.tasks < 1:
        parser.error("--tasks must be at least 1")
    if args.start_timeout <= 0:
        parser.error("--start-timeout must be positive")
    results = run_memory(args.quick, args.tasks, args.start_timeout)
    output = write_results("memory", results)
    print(memory_table(results))
    print(f"JSON: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
