"""Separate processes on PostgreSQL + Redis Streams: 1 dispatcher, 2 workers.

Reports end-to-end throughput of no-op runs and dispatch latency (requested -> started) at idle.
Run from the repository root: .venv/bin/python benchmarks/distributed.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.cluster import redis_cluster, wait_until  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the sorted values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def run(quick: bool) -> dict:
    """Start the cluster, measure, stop everything."""
    runs_total, idle_runs = (200, 30) if quick else (1000, 100)
    with tempfile.TemporaryDirectory() as work, redis_cluster(Path(work)) as cluster:
        cluster.start_api()
        cluster.start("projector", "projector")
        cluster.start("dispatcher0", "dispatcher")
        for i in range(2):
            cluster.start(f"worker{i}", "worker", SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="20")
        cluster.wait_for_workers(2)
        with httpx.Client(base_url=cluster.url, timeout=60) as client:
            client.post("/api/tasks", json={"name": "noop", "command": "true"})
            client.post("/api/tasks", json={"name": "idle", "command": "true"})
            post_ms: list[float] = []

            def trigger(_: int) -> None:
                started = time.perf_counter()
                client.post("/api/tasks/noop/trigger").raise_for_status()
                post_ms.append((time.perf_counter() - started) * 1000)

            first = time.time()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(trigger, range(runs_total)))
            wait_until(
                lambda: (
                    client.get(
                        "/api/runs", params={"task": "noop", "status": "succeeded", "limit": 1}
                    ).json()["total"]
                    == runs_total
                ),
                600,
                "runs did not finish",
            )
            items = client.get("/api/runs", params={"task": "noop", "limit": 1}).json()["items"]
            last = datetime.fromisoformat(items[0]["finished_at"]).timestamp()
            latest_finish = max(
                last,
                *(
                    datetime.fromisoformat(r["finished_at"]).timestamp()
                    for r in client.get("/api/runs", params={"task": "noop", "limit": 500}).json()[
                        "items"
                    ]
                ),
            )
            throughput = runs_total / (latest_finish - first)
            time.sleep(2)
            dispatch_ms: list[float] = []
            finish_ms: list[float] = []
            for _ in range(idle_runs):
                run_id = client.post("/api/tasks/idle/trigger").json()["run_id"]
                wait_until(
                    lambda rid=run_id: (
                        client.get(f"/api/runs/{rid}").json()["status"] == "succeeded"
                    ),
                    30,
                    "idle run did not finish",
                )
                run_ = client.get(f"/api/runs/{run_id}").json()
                requested = datetime.fromisoformat(run_["requested_at"])
                dispatch_ms.append(
                    (datetime.fromisoformat(run_["started_at"]) - requested).total_seconds() * 1000
                )
                finish_ms.append(
                    (datetime.fromisoformat(run_["finished_at"]) - requested).total_seconds() * 1000
                )
                time.sleep(0.2)
    return {
        "runs": runs_total,
        "runs_per_s": round(throughput, 1),
        "trigger_post_ms": {
            "p50": round(statistics.median(post_ms), 1),
            "p99": round(percentile(post_ms, 0.99), 1),
        },
        "dispatch_latency_ms": {
            "samples": idle_runs,
            "p50": round(statistics.median(dispatch_ms), 1),
            "p99": round(percentile(dispatch_ms, 0.99), 1),
        },
        "requested_to_finished_ms": {
            "p50": round(statistics.median(finish_ms), 1),
            "p99": round(percentile(finish_ms, 0.99), 1),
        },
    }


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    results = run(parser.parse_args().quick)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
