"""Benchmarks on PostgreSQL: command throughput, trigger→succeeded throughput, GET latency.

Run: `.venv/bin/python benchmarks/run.py [--quick]` (or `make bench`). Every benchmark gets a
fresh `scheduler_bench_<hex>` database that is dropped afterwards, and every `scheduler up`
subprocess is stopped, also when something fails. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg

from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container, build_container
from entrypoints.settings import load_settings

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
SCHEDULER = Path(sys.executable).with_name("scheduler")
RESULTS = Path(__file__).resolve().parent / "results"
REPETITIONS = 3
CREATE_THREADS = 4
TRIGGER_CLIENTS = 4
SEED_THREADS = 4
WARMUP_GETS = 20

FULL = {"create_n": 2000, "trigger_m": 500, "read_tasks": 10_000, "read_gets": 2000}
QUICK = {"create_n": 300, "trigger_m": 100, "read_tasks": 2000, "read_gets": 300}


def log(message: str) -> None:
    """Progress on stderr, so stdout carries only the results table."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# Infrastructure: databases and the scheduler subprocess


def admin_url() -> str:
    """The PostgreSQL server the benchmark databases are created on."""
    return os.environ.get("SCHEDULER_TEST_DATABASE_URL", DEFAULT_ADMIN_URL)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create `scheduler_bench_<hex>`, yield its URL, always drop it."""
    admin = admin_url()
    name = f"scheduler_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def in_process(url: str) -> Iterator[Container]:
    """A container (event store, read tables, projections) on `url`, closed afterwards."""
    container = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
    try:
        yield container
    finally:
        container.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def scheduler_up(url: str, start_timeout: float = 60.0) -> Iterator[str]:
    """`scheduler up` on `url` in a temp dir; yields its base URL; always stopped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env.update(
        {
            "SCHEDULER_DATABASE__URL": url,
            "SCHEDULER_API__HOST": "127.0.0.1",
            "SCHEDULER_API__PORT": str(port),
            "SCHEDULER_WORKER__MAX_CONCURRENT_TASKS": "20",
            "SCHEDULER_WORKER__HEARTBEAT_INTERVAL_SECONDS": "1",
            "SCHEDULER_OBSERVABILITY__LOG_LEVEL": "warning",
        }
    )
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="scheduler-bench-") as workdir:
        log_path = Path(workdir) / "scheduler.log"
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [str(SCHEDULER), "up"],
                cwd=workdir,
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_healthy(process, base, start_timeout, log_path)
            yield base
        except BaseException:
            log("scheduler log tail:\n" + _tail(log_path))
            raise
        finally:
            _stop(process)


def _wait_healthy(
    process: subprocess.Popen[bytes], base: str, timeout: float, log_path: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"scheduler exited early with code {process.returncode}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"scheduler did not become healthy within {timeout:.0f}s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# Measurements


def percentile(values: list[float], pct: float) -> float:
    """Linear-interpolated percentile (pct in 0..100) of a non-empty list."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50/p99/mean/max in milliseconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "count": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "max_ms": round(max(ms), 3),
    }


def create_tasks(container: Container, names: list[str]) -> None:
    """One create_task command per name, each with its own context."""
    for name in names:
        ctx = CommandContext(actor="bench", now=datetime.now(UTC), correlation_id=uuid.uuid4())
        container.app.create_task(validate_spec({"name": name, "command": "true"}), ctx)


def create_in_threads(container: Container, names: list[str], threads: int) -> None:
    """Split `names` over `threads` threads; re-raises the first failure."""
    chunks = [names[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(create_tasks, container, chunk) for chunk in chunks]:
            future.result()


def bench_create(n: int, threads: int) -> dict[str, Any]:
    """Benchmark 1: task-creation commands/s in-process, median of REPETITIONS fresh DBs."""
    rates: list[float] = []
    for rep in range(1, REPETITIONS + 1):
        with fresh_database() as url, in_process(url) as container:
            names = [f"bench-{rep}-{i}" for i in range(n)]
            started = time.perf_counter()
            if threads == 1:
                create_tasks(container, names)
            else:
                create_in_threads(container, names, threads)
            elapsed = time.perf_counter() - started
            head = container.app.head_position()
        rates.append(n / elapsed)
        log(f"  create x{n}, {threads} thread(s), rep {rep}: {n / elapsed:.1f}/s (head {head})")
    return {
        "tasks": n,
        "threads": threads,
        "repetitions": [round(r, 1) for r in rates],
        "median_commands_per_s": round(statistics.median(rates), 1),
    }


def bench_trigger(m: int, timeout: float) -> dict[str, Any]:
    """Benchmark 2: M no-op shell runs from trigger to succeeded through `scheduler up`."""
    with fresh_database() as url, scheduler_up(url) as base:
        with httpx.Client(base_url=base, timeout=30) as http:
            answer = http.post("/api/tasks", json={"name": "bench-noop", "command": "true"})
            answer.raise_for_status()
            task_ref = str(answer.json()["id"])

        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        per_client = [
            m // TRIGGER_CLIENTS + (i < m % TRIGGER_CLIENTS) for i in range(TRIGGER_CLIENTS)
        ]
        start_gate = threading.Event()

        def fire(count: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as client:
                start_gate.wait(10)
                for _ in range(count):
                    began = time.perf_counter()
                    try:
                        reply = client.post(f"/api/tasks/{task_ref}/trigger")
                        ok = reply.status_code == 202
                        problem = f"HTTP {reply.status_code}: {reply.text[:200]}"
                    except httpx.HTTPError as error:
                        ok, problem = False, f"{type(error).__name__}: {error}"
                    took = time.perf_counter() - began
                    with lock:
                        if ok:
                            latencies.append(took)
                        else:
                            errors.append(problem)

        with ThreadPoolExecutor(max_workers=TRIGGER_CLIENTS) as pool:
            futures = [pool.submit(fire, count) for count in per_client]
            time.sleep(0.2)  # let every client open its connection pool first
            first_trigger_wall = time.time()
            first_trigger = time.perf_counter()
            start_gate.set()
            for future in futures:
                future.result()
        triggers_done = time.perf_counter() - first_trigger
        if errors:
            raise RuntimeError(f"{len(errors)} triggers failed, first: {errors[0]}")

        observed = _wait_all_succeeded(base, "bench-noop", m, first_trigger, timeout)
        last_finished = _last_finished_at(base, "bench-noop", m)
    if last_finished is not None and last_finished > first_trigger_wall:
        elapsed = last_finished - first_trigger_wall
        source = "finished_at of the last run"
    else:
        elapsed, source = observed, "observed by polling"
    return {
        "runs": m,
        "trigger_clients": TRIGGER_CLIENTS,
        "elapsed_s": round(elapsed, 3),
        "elapsed_source": source,
        "observed_elapsed_s": round(observed, 3),
        "runs_per_s": round(m / elapsed, 1),
        "triggers_sent_in_s": round(triggers_done, 3),
        "trigger_latency": latency_summary(latencies),
    }


def _wait_all_succeeded(base: str, task: str, m: int, since: float, timeout: float) -> float:
    """Poll until the task has M succeeded runs; returns seconds since `since`."""
    deadline = time.monotonic() + timeout
    total = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        while time.monotonic() < deadline:
            reply = http.get("/api/runs", params={"status": "succeeded", "task": task, "limit": 1})
            reply.raise_for_status()
            total = reply.json()["total"]
            if total >= m:
                return time.perf_counter() - since
            time.sleep(0.05)
        counts = {
            status: http.get("/api/runs", params={"status": status, "task": task, "limit": 1})
            .json()
            .get("total")
            for status in ("pending", "assigned", "running", "failed", "timed_out")
        }
    raise RuntimeError(f"only {total}/{m} runs succeeded within {timeout:.0f}s; others: {counts}")


def _last_finished_at(base: str, task: str, m: int) -> float | None:
    """The newest finished_at (epoch seconds) among the task's succeeded runs."""
    newest: float | None = None
    with httpx.Client(base_url=base, timeout=30) as http:
        for offset in range(0, m, 500):
            reply = http.get(
                "/api/runs",
                params={"status": "succeeded", "task": task, "limit": 500, "offset": offset},
            )
            reply.raise_for_status()
            for run in reply.json()["items"]:
                if run.get("finished_at"):
                    stamp = datetime.fromisoformat(run["finished_at"]).timestamp()
                    newest = stamp if newest is None else max(newest, stamp)
    return newest


def bench_reads(task_count: int, gets: int) -> dict[str, Any]:
    """Benchmark 3: GET latency with `task_count` tasks in the read model."""
    with fresh_database() as url:
        with in_process(url) as container:
            started = time.perf_counter()
            names = [f"bench-read-{i}" for i in range(task_count)]
            create_in_threads(container, names, SEED_THREADS)
            seeded = time.perf_counter() - started
            log(f"  seeded {task_count} tasks in {seeded:.1f}s; catching up projections")
            started = time.perf_counter()
            for runner in container.runners:
                runner.catch_up()
            caught_up = time.perf_counter() - started
            log(f"  projections caught up in {caught_up:.1f}s")
        with scheduler_up(url) as base, httpx.Client(base_url=base, timeout=30) as http:
            listed = http.get("/api/tasks", params={"limit": 1})
            listed.raise_for_status()
            total = listed.json()["total"]
            if total != task_count:
                raise RuntimeError(f"the tasks view holds {total} tasks, expected {task_count}")
            rng = random.Random(42)
            by_number = _time_gets(
                http, lambda: f"/api/tasks/{rng.randint(1, task_count)}", None, gets
            )
            listing = _time_gets(http, lambda: "/api/tasks", {"limit": 50}, gets)
    return {
        "tasks": task_count,
        "gets_each": gets,
        "seed_s": round(seeded, 1),
        "catch_up_s": round(caught_up, 1),
        "get_task_by_number": latency_summary(by_number),
        "list_tasks_limit_50": latency_summary(listing),
    }


def _time_gets(
    http: httpx.Client, path: Callable[[], str], params: dict[str, Any] | None, count: int
) -> list[float]:
    for _ in range(WARMUP_GETS):
        http.get(path(), params=params).raise_for_status()
    timings: list[float] = []
    for _ in range(count):
        target = path()
        began = time.perf_counter()
        reply = http.get(target, params=params)
        timings.append(time.perf_counter() - began)
        if reply.status_code != 200:
            raise RuntimeError(f"GET {target}: HTTP {reply.status_code}: {reply.text[:200]}")
    return timings


# Report


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        with psycopg.connect(admin_url(), connect_timeout=5) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            server = row[0] if row else "?"
    except psycopg.Error:
        server = "?"
    return {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": server,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def table(results: dict[str, Any]) -> str:
    """The results as a fixed-width text table."""
    machine = results["machine"]
    bench = results["benchmarks"]
    rows: list[tuple[str, str, str]] = []
    for key in ("create_sequential", "create_threads"):
        if key in bench:
            b = bench[key]
            label = f"create_task, {b['threads']} thread(s), N={b['tasks']}"
            reps = ", ".join(f"{r:.0f}" for r in b["repetitions"])
            rows.append((label, f"{b['median_commands_per_s']:.1f} cmd/s", f"median of [{reps}]"))
    if "trigger" in bench:
        b = bench["trigger"]
        lat = b["trigger_latency"]
        rows.append(
            (
                f"trigger→succeeded, M={b['runs']}",
                f"{b['runs_per_s']:.1f} runs/s",
                f"{b['elapsed_s']:.2f}s first trigger→last success",
            )
        )
        rows.append(
            (
                f"POST /trigger ({b['trigger_clients']} clients)",
                f"p50 {lat['p50_ms']:.1f} ms",
                f"p99 {lat['p99_ms']:.1f} ms",
            )
        )
    if "reads" in bench:
        b = bench["reads"]
        for key, path in (
            ("get_task_by_number", "/api/tasks/{n}"),
            ("list_tasks_limit_50", "/api/tasks?limit=50"),
        ):
            lat = b[key]
            rows.append(
                (
                    f"GET {path} ({b['tasks']} tasks)",
                    f"p50 {lat['p50_ms']:.2f} ms",
                    f"p99 {lat['p99_ms']:.2f} ms",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    line = "-+-".join("-" * w for w in widths)
    header = (
        f"Scheduler benchmarks ({'quick' if results['quick'] else 'full'}) on PostgreSQL "
        f"{machine['postgres']} — nproc={machine['nproc']}, "
        f"load avg {machine['load_average'][0]} at start, total {results['duration_s']:.0f}s"
    )
    body = [
        " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join([header, line, *body, line])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument(
        "--trigger-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for every triggered run to succeed (default 300)",
    )
    parser.add_argument(
        "--output", type=Path, default=RESULTS / "latest.json", help="where to write the JSON"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sizes = QUICK if args.quick else FULL
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "sizes": sizes,
        "machine": machine_info(),
        "benchmarks": {},
    }
    began = time.perf_counter()
    bench = results["benchmarks"]
    log(f"1/3 task creation, sequential (N={sizes['create_n']}, {REPETITIONS} reps)")
    bench["create_sequential"] = bench_create(sizes["create_n"], 1)
    log(f"1/3 task creation, {CREATE_THREADS} threads")
    bench["create_threads"] = bench_create(sizes["create_n"], CREATE_THREADS)
    log(f"2/3 trigger→succeeded (M={sizes['trigger_m']})")
    bench["trigger"] = bench_trigger(sizes["trigger_m"], args.trigger_timeout)
    log(f"3/3 GET latency ({sizes['read_tasks']} tasks, {sizes['read_gets']} GETs each)")
    bench["reads"] = bench_reads(sizes["read_tasks"], sizes["read_gets"])
    results["duration_s"] = round(time.perf_counter() - began, 1)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"JSON: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
