"""Benchmark: what one worker costs per run, `callable` against `shell`, with no database.

One WorkerAgent (the real executors) runs N no-op attempts handed to it over a bus by an
emulated dispatcher in the same process, which keeps at most `--capacity` attempts out (as the
real one does), confirms every final report and sends the next delivery. It prints runs/s
through the worker, CPU microseconds per run (worker and emulated dispatcher together: one
process) and reports per bus call (the worker's report batching).

Run: `.venv/bin/python benchmarks/worker_cost.py [--runs 20000] [--shell-runs 500]
[--capacity 20] [--bus memory|redis]`. With --bus redis it uses SCHEDULER_TEST_REDIS_URL
(default redis://127.0.0.1:6379/0) under a fresh key prefix, deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from adapters.delivery_executor import DeliveryExecutor
from adapters.executors import default_executors
from adapters.memory_bus import InMemoryBus
from adapters.redis_bus import RedisStreamsBus
from application.messages import Control, Delivery, Report
from application.worker_agent import WorkerAgent
from domain.worker import WorkerProfile

REPETITIONS = 3
WORKLOADS = {
    "callable noop": ("callable", "entrypoints.examples.tasks:noop"),
    "callable async": ("callable", "entrypoints.examples.tasks:async_sleep"),
    "shell true": ("shell", "true"),
}


class CountingBus:
    """The bus, counting the worker's publish_reports calls and the reports in them."""

    def __init__(self, bus: Any) -> None:
        self._bus = bus
        self.calls = 0
        self.reports = 0

    def publish_reports(self, reports: Sequence[Report]) -> None:
        self.calls += 1
        self.reports += len(reports)
        self._bus.publish_reports(reports)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


def measure(bus: Any, executor: str, command: str, runs: int, capacity: int) -> dict[str, float]:
    """Push `runs` attempts through one fresh worker; its rate, CPU and batching."""
    counting = CountingBus(bus)
    registry = default_executors(
        callable_modules=["entrypoints.examples"], max_concurrent_tasks=capacity
    )
    profile = WorkerProfile("bench", "localhost", [executor], max_concurrent_tasks=capacity)
    agent = WorkerAgent(profile, counting, DeliveryExecutor(registry), poll_interval=0.05)
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run_forever, args=(stop, 5.0), daemon=True)
    thread.start()
    params = {"seconds": "0"} if "async_sleep" in command else {}

    def delivery() -> Delivery:
        return Delivery(uuid.uuid4(), 1, agent.worker_id, "t", executor, command, params=params)

    try:
        began, cpu = time.perf_counter(), time.process_time()
        bus.publish_inbox_messages([delivery() for _ in range(min(capacity, runs))])
        sent, done = min(capacity, runs), 0
        while done < runs:
            received = bus.receive_reports("bench", 1000, 1.0)
            finals = [r.message for r in received if r.message.is_final]
            bus.ack_reports([r.token for r in received])
            more = min(len(finals), runs - sent)
            confirmations = [Control("recorded", agent.worker_id, f.run_id, 1) for f in finals]
            bus.publish_inbox_messages(confirmations + [delivery() for _ in range(more)])
            sent, done = sent + more, done + len(finals)
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
    finally:
        stop.set()
        thread.join(10)
    return {
        "runs_per_second": runs / elapsed,
        "cpu_us_per_run": cpu / runs * 1e6,
        "reports_per_bus_call": counting.reports / max(counting.calls, 1),
    }


def open_bus(kind: str) -> Any:
    if kind == "memory":
        return InMemoryBus()
    url = os.environ.get("SCHEDULER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    return RedisStreamsBus(url, prefix=f"scheduler-bench-{uuid.uuid4().hex[:12]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--shell-runs", type=int, default=500)
    parser.add_argument("--capacity", type=int, default=20)
    parser.add_argument("--bus", choices=["memory", "redis"], default="memory")
    options = parser.parse_args()
    print(f"bus={options.bus} capacity={options.capacity} median of {REPETITIONS}")
    print(f"{'workload':<16} {'runs':>6} {'runs/s':>9} {'CPU µs/run':>11} {'reports/call':>13}")
    for name, (executor, command) in WORKLOADS.items():
        runs = options.shell_runs if executor == "shell" else options.runs
        results = []
        for _ in range(REPETITIONS):
            bus = open_bus(options.bus)
            try:
                results.append(measure(bus, executor, command, runs, options.capacity))
            finally:
                if isinstance(bus, RedisStreamsBus):
                    bus.delete_all()
                bus.close()
        rate = statistics.median(r["runs_per_second"] for r in results)
        cpu = statistics.median(r["cpu_us_per_run"] for r in results)
        batch = statistics.median(r["reports_per_bus_call"] for r in results)
        print(f"{name:<16} {runs:>6} {rate:>9,.0f} {cpu:>11,.0f} {batch:>13.1f}", flush=True)


if __name__ == "__main__":
    main()
