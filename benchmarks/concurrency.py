"""1,000 concurrent sleeping runs across 2 workers: are they all running at once?

Run: `.venv/bin/python benchmarks/concurrency.py [--quick] [--runs 1000] [--sleep 30]`. The
distributed group's cluster (api + projector + dispatcher + 2 worker processes on PostgreSQL and
Redis Streams), each worker with `max_concurrent_tasks` = runs ÷ 2. M runs of one sleeping task
are requested (bulk endpoint, or single triggers from 8 clients), then every run must succeed.
From the runs' server stamps: the peak number running at once (`started_at` to `finished_at`
overlapping; the target is all M), first request → last start, first request → last finish
against the sleep itself, and the runs per worker. Executors: `callable` (default;
`entrypoints.examples.tasks:sleep` on the worker's thread pool), `async`
(`entrypoints.examples.tasks:async_sleep` on its event loop) or `shell` (`sleep S`, one process
per run; for builds without the callable executor).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from enqueue import MODES, enqueue
from run import (
    CALLABLE_ENV,
    Cluster,
    _runs_per_worker,
    _succeeded_runs,
    _timestamp,
    _wait_all_succeeded,
    distributed_cluster,
    log,
    machine_info,
    write_results,
)

FULL = {"runs": 1_000, "sleep_s": 30.0}
QUICK = {"runs": 200, "sleep_s": 10.0}
WORKERS = 2
EXECUTORS = {
    "callable": "entrypoints.examples.tasks:sleep",
    "async": "entrypoints.examples.tasks:async_sleep",
}


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals [start, end) that hold at one moment (an end before a start at a tie)."""
    edges = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
        key=lambda edge: (edge[0], edge[1]),
    )
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def sleeping_task(http: httpx.Client, executor: str, sleep_s: float) -> tuple[str, dict]:
    """The task (its number) and the trigger body that makes a run sleep `sleep_s`."""
    if executor == "shell":
        spec: dict[str, Any] = {"name": "bench-sleep", "command": f"sleep {sleep_s:g}"}
        body: dict[str, Any] = {}
    else:
        spec = {"name": "bench-sleep", "executor": "callable", "command": EXECUTORS[executor]}
        body = {"params": {"seconds": f"{sleep_s:g}"}}
    spec["timeout_seconds"] = int(sleep_s * 4 + 60)
    reply = http.post("/api/tasks", json=spec)
    if reply.status_code != 201:
        raise RuntimeError(f"creating the task: HTTP {reply.status_code}: {reply.text[:300]}")
    return str(reply.json()["id"]), body


def measure(cluster: Cluster, sizes: dict[str, Any], executor: str, mode: str) -> dict[str, Any]:
    """Request M sleeping runs, wait for all to succeed, read their stamps."""
    m, sleep_s = sizes["runs"], sizes["sleep_s"]
    with httpx.Client(base_url=cluster.url, timeout=60) as http:
        ref, body = sleeping_task(http, executor, sleep_s)
    began_wall, began = time.time(), time.perf_counter()
    run_ids = enqueue(cluster.url, ref, m, mode, body, 8)
    enqueued = time.perf_counter() - began
    log(f"  {m} runs requested in {enqueued:.1f}s; waiting for them to succeed")
    _wait_all_succeeded(cluster.url, "bench-sleep", m, began, sleep_s * 4 + 600)
    runs = _succeeded_runs(cluster.url, "bench-sleep", m)
    if {run["id"] for run in runs} != set(run_ids):
        raise RuntimeError("the succeeded runs listed are not the runs requested")
    starts = [_timestamp(run["started_at"]) or 0.0 for run in runs]
    ends = [_timestamp(run["finished_at"]) or 0.0 for run in runs]
    return {
        "runs": m,
        "sleep_s": sleep_s,
        "executor": executor,
        "enqueue": mode,
        "enqueued_in_s": round(enqueued, 2),
        "peak_running": peak_overlap(zip(starts, ends, strict=True)),
        "first_request_to_last_start_s": round(max(starts) - began_wall, 2),
        "first_request_to_last_finish_s": round(max(ends) - began_wall, 2),
        "runs_per_worker": _runs_per_worker(cluster.url, runs),
    }


def run_concurrency(
    quick: bool, runs: int | None = None, sleep_s: float | None = None,
    executor: str = "callable", mode: str = "bulk",
) -> dict[str, Any]:  # fmt: skip
    """The benchmark on one cluster; what run.py's `concurrency` group stores."""
    sizes = dict(QUICK if quick else FULL)
    sizes["runs"] = runs or sizes["runs"]
    sizes["sleep_s"] = sleep_s or sizes["sleep_s"]
    slots = -(-sizes["runs"] // WORKERS)
    extra = {"SCHEDULER_WORKER__MAX_CONCURRENT_TASKS": str(slots)}
    if executor != "shell":
        extra |= CALLABLE_ENV
    began = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine_info(with_redis=True),
        "slots_per_worker": slots,
    }
    with distributed_cluster(extra) as cluster:
        results["benchmark"] = measure(cluster, sizes, executor, mode)
        cluster.check_alive()
    results["duration_s"] = round(time.perf_counter() - began, 1)
    return results


def concurrency_table(results: dict[str, Any]) -> str:
    """Three lines: the peak and the spans."""
    b = results["benchmark"]
    return "\n".join(
        [
            f"Concurrency: {b['runs']:,} runs sleeping {b['sleep_s']:g}s ({b['executor']}, "
            f"{b['enqueue']}) on {WORKERS} workers × {results['slots_per_worker']} slots — "
            f"total {results['duration_s']:.0f}s",
            f"  peak running at once: {b['peak_running']:,} of {b['runs']:,}; requested in "
            f"{b['enqueued_in_s']}s; last start {b['first_request_to_last_start_s']}s and last "
            f"finish {b['first_request_to_last_finish_s']}s after the first request",
            f"  runs per worker: {b['runs_per_worker']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 runs sleeping 10 s")
    parser.add_argument("--runs", type=int, help="runs (default 1,000)")
    parser.add_argument("--sleep", type=float, help="seconds each run sleeps (default 30)")
    parser.add_argument("--executor", choices=("callable", "async", "shell"), default="callable")
    parser.add_argument("--enqueue", choices=MODES, default="bulk", help="bulk (default) or single")
    args = parser.parse_args(argv)
    if (args.runs is not None and args.runs < 1) or (args.sleep is not None and args.sleep <= 0):
        parser.error("--runs and --sleep must be positive")
    results = run_concurrency(args.quick, args.runs, args.sleep, args.executor, args.enqueue)
    output = write_results("concurrency", results)
    print(concurrency_table(results))
    print(f"JSON: {output}")
    b = results["benchmark"]
    return 0 if b["peak_running"] == b["runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
