"""Trigger latency and rate against one `scheduler up` on PostgreSQL: single and bulk.

Run: `.venv/bin/python benchmarks/trigger_latency.py [--triggers M] [--clients C]
[--minimal] [--bulk N]`. A fresh database and one shell task `true`; then M
`POST /api/tasks/{ref}/trigger` from C client threads as fast as they are answered (each
waits for its views, read-your-writes, unless `--minimal` sends `Prefer: return=minimal`);
prints triggers/s and the client-side p50/p99. The runs are dispatched and executed in the
same process meanwhile. With `--bulk N`, N more runs go through the bulk endpoint
(`SchedulerClient.trigger_many`, 1,000 per request, one client) to a queue no worker serves,
and the enqueue rate is printed too.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # benchmarks/ is not a package: found through sys.path
    create_task_over_http,
    fresh_database,
    latency_summary,
    scheduler_up,
)

from entrypoints.client import SchedulerClient


def fire(base: str, ref: str, m: int, clients: int, headers: dict[str, str]) -> dict[str, Any]:
    """M triggers from `clients` threads; their rate and latencies (raises if one failed)."""
    latencies: list[float] = []
    gate = threading.Barrier(clients + 1)

    def client(count: int) -> list[float]:
        took: list[float] = []
        with httpx.Client(base_url=base, timeout=30, headers=headers) as http:
            http.get("/health")  # connection open before the clock starts
            gate.wait()
            for _ in range(count):
                began = time.perf_counter()
                answer = http.post(f"/api/tasks/{ref}/trigger")
                took.append(time.perf_counter() - began)
                if answer.status_code != 202:
                    raise RuntimeError(f"HTTP {answer.status_code}: {answer.text[:200]}")
        return took

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, m // clients + (i < m % clients)) for i in range(clients)]
        gate.wait()
        began = time.perf_counter()
        for future in futures:
            latencies.extend(future.result())
        seconds = time.perf_counter() - began
    return {"per_second": round(m / seconds, 1), **latency_summary(latencies)}


def bulk(base: str, n: int) -> dict[str, Any]:
    """N runs through the bulk endpoint to an unserved queue; the enqueue rate."""
    with SchedulerClient(base) as api:
        task = api.create_task({"name": "bench-bulk", "command": "true", "queue": "unserved"})
        began = time.perf_counter()
        done = api.trigger_many(task.id, ({"params": {"I": str(i)}} for i in range(n)))
        seconds = time.perf_counter() - began
    assert len(done.run_ids) == n
    return {"bulk_runs": n, "bulk_per_second": round(n / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    """Measure and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--triggers", type=int, default=800)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--minimal", action="store_true", help="Prefer: return=minimal")
    parser.add_argument("--bulk", type=int, default=0, help="runs through the bulk endpoint")
    args = parser.parse_args(argv)
    headers = {"Prefer": "return=minimal"} if args.minimal else {}
    with fresh_database() as url, scheduler_up(url) as base:
        ref = create_task_over_http(base, "bench-latency")
        fire(base, ref, args.clients * 5, args.clients, headers)  # warm-up
        result = {
            "triggers": args.triggers,
            "clients": args.clients,
            "minimal": args.minimal,
            **fire(base, ref, args.triggers, args.clients, headers),
        }
        if args.bulk:
            result |= bulk(base, args.bulk)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
