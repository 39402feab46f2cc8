"""Benchmarks on PostgreSQL: command throughput, trigger→succeeded throughput, GET latency.

Two groups: "up" (one `scheduler up` process, in-memory bus) and "distributed" (separate
`scheduler api|projector|dispatcher|worker` processes sharing PostgreSQL and Redis Streams).
Run: `.venv/bin/python benchmarks/run.py [--quick] [--only up|distributed]` (or `make bench`).
Every benchmark gets a fresh `scheduler_bench_<hex>` database that is dropped afterwards (and
the distributed group a fresh Redis key prefix whose keys are deleted), and every `scheduler`
subprocess is stopped, also when something fails. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import pwd
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
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
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
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
SCHEDULER = Path(sys.executable).with_name("scheduler")
RESULTS = Path(__file__).resolve().parent / "results"
REPETITIONS = 3
CREATE_THREADS = 4
TRIGGER_CLIENTS = 4
SEED_THREADS = 4
WARMUP_GETS = 20

FULL = {"create_n": 2000, "trigger_m": 500, "read_tasks": 10_000, "read_gets": 2000}
QUICK = {"create_n": 300, "trigger_m": 100, "read_tasks": 2000, "read_gets": 300}

# The distributed group: api + projector + DIST_DISPATCHERS dispatcher + DIST_WORKERS workers.
DIST_FULL = {"trigger_m": 1000, "latency_k": 100}
DIST_QUICK = {"trigger_m": 200, "latency_k": 30}
DIST_DISPATCHERS = 1
DIST_WORKERS = 2
DIST_SLOTS = 20  # SCHEDULER_WORKER__MAX_CONCURRENT_TASKS of each worker
DIST_TRIGGER_CLIENTS = 8
CLUSTER_START_TIMEOUT = 60.0  # API healthy, then every worker active in the read model
# The workers may call the example tasks; a no-op run is then a function call, as in Celery.
CALLABLE_ENV = {"SCHEDULER_WORKER__CALLABLE_MODULES": '["entrypoints.examples"]'}
CALLABLE_NOOP = {"executor": "callable", "command": "entrypoints.examples.tasks:noop"}
IDLE_TIMEOUT = 60.0  # for the system to drain before the idle-latency phase
IDLE_SETTLE_S = 2.0  # then this long (two heartbeats) with nothing to do
IDLE_GAP_S = 0.1  # pause between one idle run finishing and the next trigger
RUN_TIMEOUT = 30.0  # for each idle run to finish
POLL_S = 0.02  # how often GET /api/runs/{id} is polled while an idle run is under way
UNFINISHED = ("pending", "assigned", "running", "retrying")
GROUPS = ("up", "distributed")  # the default; benchmarks/groups.py adds the seed's table
# A benchmark measures the scheduler, not the API's per-address rate limit (all its clients
# share 127.0.0.1), and runs its tasks as the user running it, as a developer's `make up` does.
UNTHROTTLED = {
    "SCHEDULER_API__RATE_LIMIT_PER_SECOND": "0",
    "SCHEDULER_WORKER__RUN_AS_USER": pwd.getpwuid(os.geteuid()).pw_name,
}


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
def scheduler_up(url: str, start_timeout: float = 60.0, slots: int = 20) -> Iterator[str]:
    """`scheduler up` on `url` in a temp dir; yields its base URL; always stopped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env["SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK"] = "true"  # bound on 127.0.0.1
    env.update(
        {
            "SCHEDULER_DATABASE__URL": url,
            "SCHEDULER_API__HOST": "127.0.0.1",
            "SCHEDULER_API__PORT": str(port),
            "SCHEDULER_WORKER__MAX_CONCURRENT_TASKS": str(slots),
            "SCHEDULER_WORKER__HEARTBEAT_INTERVAL_SECONDS": "1",
            "SCHEDULER_OBSERVABILITY__LOG_LEVEL": "warning",
            **UNTHROTTLED,
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


@dataclass
class TriggerBurst:
    """What the clients saw while firing a burst of triggers."""

    first_wall: float  # time.time() when the clients were released
    first_perf: float  # time.perf_counter() at the same moment
    sent_in_s: float  # until the last trigger was answered
    latencies: list[float]  # seconds per POST
    run_ids: list[str] = field(default_factory=list)  # of the accepted triggers


def fire_triggers(
    base: str, task_ref: str, m: int, clients: int, body: dict[str, Any] | None = None
) -> TriggerBurst:
    """M `POST /api/tasks/{ref}/trigger` with `body` from `clients` threads; raise on a failure."""
    latencies: list[float] = []
    run_ids: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    per_client = [m // clients + (i < m % clients) for i in range(clients)]
    start_gate = threading.Event()

    def fire(count: int) -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            start_gate.wait(10)
            for _ in range(count):
                began = time.perf_counter()
                try:
                    reply = client.post(f"/api/tasks/{task_ref}/trigger", json=body)
                    ok = reply.status_code == 202
                    problem = f"HTTP {reply.status_code}: {reply.text[:200]}"
                except httpx.HTTPError as error:
                    ok, problem = False, f"{type(error).__name__}: {error}"
                took = time.perf_counter() - began
                with lock:
                    if ok:
                        latencies.append(took)
                        run_ids.append(reply.json()["run_id"])
                    else:
                        errors.append(problem)

    with ThreadPoolExecutor(max_workers=clients) as pool:
        futures = [pool.submit(fire, count) for count in per_client]
        time.sleep(0.2)  # let every client open its connection pool first
        first_wall = time.time()
        first_perf = time.perf_counter()
        start_gate.set()
        for future in futures:
            future.result()
    sent_in = time.perf_counter() - first_perf
    if errors:
        raise RuntimeError(f"{len(errors)} triggers failed, first: {errors[0]}")
    return TriggerBurst(first_wall, first_perf, sent_in, latencies, run_ids)


def create_task_over_http(base: str, name: str, spec: dict[str, Any] | None = None) -> str:
    """A no-op task (a shell `true` unless `spec` says otherwise); returns its number."""
    with httpx.Client(base_url=base, timeout=30) as http:
        answer = http.post("/api/tasks", json={"name": name, "command": "true", **(spec or {})})
        answer.raise_for_status()
        return str(answer.json()["id"])


def bench_trigger(m: int, timeout: float) -> dict[str, Any]:
    """Benchmark 2: M no-op shell runs from trigger to succeeded through `scheduler up`."""
    with fresh_database() as url, scheduler_up(url) as base:
        task_ref = create_task_over_http(base, "bench-noop")
        burst = fire_triggers(base, task_ref, m, TRIGGER_CLIENTS)
        observed = _wait_all_succeeded(base, "bench-noop", m, burst.first_perf, timeout)
        last_finished = _last_finished_at(_succeeded_runs(base, "bench-noop", m))
    return {
        "runs": m,
        "trigger_clients": TRIGGER_CLIENTS,
        **_throughput(m, burst, observed, last_finished),
    }


def _throughput(
    m: int, burst: TriggerBurst, observed: float, last_finished: float | None
) -> dict[str, Any]:
    """Runs/s over first trigger → last finished_at (or the polling observation)."""
    if last_finished is not None and last_finished > burst.first_wall:
        elapsed = last_finished - burst.first_wall
        source = "finished_at of the last run"
    else:
        elapsed, source = observed, "observed by polling"
    return {
        "elapsed_s": round(elapsed, 3),
        "elapsed_source": source,
        "observed_elapsed_s": round(observed, 3),
        "runs_per_s": round(m / elapsed, 1),
        "triggers_sent_in_s": round(burst.sent_in_s, 3),
        "trigger_latency": latency_summary(burst.latencies),
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


def _succeeded_runs(base: str, task: str, m: int) -> list[dict[str, Any]]:
    """The task's succeeded runs, read in pages of 500 (at most M + one page)."""
    runs: list[dict[str, Any]] = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for offset in range(0, m + 500, 500):
            reply = http.get(
                "/api/runs",
                params={"status": "succeeded", "task": task, "limit": 500, "offset": offset},
            )
            reply.raise_for_status()
            items = reply.json()["items"]
            runs.extend(items)
            if len(items) < 500:
                break
    return runs


def _timestamp(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def _last_finished_at(runs: list[dict[str, Any]]) -> float | None:
    """The newest finished_at (epoch seconds) among `runs`."""
    stamps = [s for s in (_timestamp(run.get("finished_at")) for run in runs) if s is not None]
    return max(stamps) if stamps else None


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


# The distributed group: separate processes on PostgreSQL and Redis Streams


def redis_url() -> str:
    """The Redis server the distributed group uses (the variable the tests use)."""
    return os.environ.get("SCHEDULER_TEST_REDIS_URL", DEFAULT_REDIS_URL)


@contextmanager
def fresh_redis_prefix() -> Iterator[str]:
    """Yield `scheduler-bench-<hex>`; afterwards delete every key under `<prefix>:`."""
    import redis

    prefix = f"scheduler-bench-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
        yield prefix
    finally:
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            for i in range(0, len(keys), 500):
                client.delete(*keys[i : i + 500])
            log(f"  deleted {len(keys)} Redis keys under {prefix}:")
        finally:
            client.close()


@dataclass
class Cluster:
    """`scheduler api|projector|dispatcher|worker` processes on one database and one prefix."""

    workdir: Path
    database_url: str
    prefix: str
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. callable_modules
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.api_port}"

    def env(self, name: str, with_database: bool) -> dict[str, str]:
        """One process's environment; workers get no database settings at all."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
        env["SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK"] = "true"  # bound on 127.0.0.1
        env.update(
            {
                "SCHEDULER_MESSAGE_QUEUE__TYPE": "redis",
                "SCHEDULER_MESSAGE_QUEUE__URL": redis_url(),
                "SCHEDULER_MESSAGE_QUEUE__PREFIX": self.prefix,
                "SCHEDULER_API__HOST": "127.0.0.1",
                "SCHEDULER_API__PORT": str(self.api_port),
                "SCHEDULER_DISPATCHER__NAME": name,
                "SCHEDULER_WORKER__NAME": name,
                "SCHEDULER_WORKER__MAX_CONCURRENT_TASKS": str(DIST_SLOTS),
                "SCHEDULER_WORKER__HEARTBEAT_INTERVAL_SECONDS": "1",
                "SCHEDULER_OBSERVABILITY__LOG_LEVEL": "warning",
                **UNTHROTTLED,
                **self.extra_env,
            }
        )
        if with_database:
            env["SCHEDULER_DATABASE__URL"] = self.database_url
        return env

    def start(self, name: str, command: str) -> None:
        """Start `scheduler <command>`; its output goes to <workdir>/<name>.log."""
        with (self.workdir / f"{name}.log").open("ab") as log_file:
            self.processes[name] = subprocess.Popen(
                [str(SCHEDULER), command],
                cwd=self.workdir,
                env=self.env(name, with_database=command != "worker"),
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )

    def check_alive(self) -> None:
        """Raise if any process has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited early with code {process.returncode}")

    def wait_healthy(self, timeout: float, accept: tuple[int, ...] = (200,)) -> None:
        """Until the API answers /health with one of `accept` (503 = serving, degraded)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code in accept:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the API did not become healthy within {timeout:.0f}s")

    def wait_for_workers(self, count: int, timeout: float) -> list[dict[str, Any]]:
        """Until GET /api/workers?status=active lists `count` workers."""
        deadline = time.monotonic() + timeout
        workers: list[dict[str, Any]] = []
        with httpx.Client(base_url=self.url, timeout=5) as http:
            while time.monotonic() < deadline:
                self.check_alive()
                reply = http.get("/api/workers", params={"status": "active"})
                reply.raise_for_status()
                workers = reply.json()
                if len(workers) >= count:
                    return workers
                time.sleep(0.1)
        raise RuntimeError(f"only {len(workers)}/{count} workers active after {timeout:.0f}s")

    def stop_all(self) -> None:
        """SIGTERM (then SIGKILL after 30 s) every process: workers first, the API last."""
        order = ("worker", "dispatcher", "projector", "api")
        for name in sorted(self.processes, key=lambda n: order.index(n.rstrip("0123456789"))):
            _stop(self.processes[name])

    def tails(self) -> str:
        """The end of every process's output."""
        return "\n".join(
            f"--- {name}\n{_tail(self.workdir / f'{name}.log', 15)}" for name in self.processes
        )


@contextmanager
def distributed_cluster(
    extra_env: dict[str, str] | None = None, workers: int = DIST_WORKERS
) -> Iterator[Cluster]:
    """A fresh database and Redis prefix with api, projector, dispatcher(s) and `workers`."""
    with (
        fresh_database() as url,
        fresh_redis_prefix() as prefix,
        cluster_on(url, prefix, extra_env, workers) as cluster,
    ):
        yield cluster


@contextmanager
def cluster_on(
    url: str,
    prefix: str,
    extra_env: dict[str, str] | None = None,
    workers: int = DIST_WORKERS,
    start_timeout: float = CLUSTER_START_TIMEOUT,
) -> Iterator[Cluster]:
    """The processes on database `url` and Redis `prefix`, up within `start_timeout` seconds.

    Always stopped. A large log needs a longer `start_timeout`: the dispatcher replays it
    before its workers can be assigned work and show as active.
    """
    with tempfile.TemporaryDirectory(prefix="scheduler-bench-") as workdir:
        cluster = Cluster(
            workdir=Path(workdir), database_url=url, prefix=prefix, extra_env=extra_env or {}
        )
        try:
            cluster.start("api", "api")
            # Degraded (503) until a dispatcher has beaten: serving is enough to go on.
            cluster.wait_healthy(start_timeout, accept=(200, 503))
            cluster.start("projector", "projector")
            for i in range(DIST_DISPATCHERS):
                cluster.start(f"dispatcher{i}", "dispatcher")
            for i in range(workers):
                cluster.start(f"worker{i}", "worker")
            cluster.wait_for_workers(workers, start_timeout)
            cluster.wait_healthy(start_timeout)
            yield cluster
        except BaseException:
            log("process log tails:\n" + cluster.tails())
            raise
        finally:
            cluster.stop_all()


def bench_distributed(m: int, k: int, timeout: float) -> dict[str, Any]:
    """Throughput of M no-op `callable` runs, then K idle runs one at a time, on one cluster."""
    began = time.perf_counter()
    with distributed_cluster(CALLABLE_ENV) as cluster:
        startup = time.perf_counter() - began
        log(f"  cluster up in {startup:.1f}s ({DIST_WORKERS} workers active)")
        base = cluster.url
        log(f"  throughput: {m} triggers from {DIST_TRIGGER_CLIENTS} clients")
        noop_ref = create_task_over_http(base, "bench-noop", CALLABLE_NOOP)
        burst = fire_triggers(base, noop_ref, m, DIST_TRIGGER_CLIENTS)
        log(f"  triggers answered in {burst.sent_in_s:.1f}s; waiting for {m} successes")
        observed = _wait_all_succeeded(base, "bench-noop", m, burst.first_perf, timeout)
        cluster.check_alive()
        runs = _succeeded_runs(base, "bench-noop", m)
        if len(runs) != m:
            raise RuntimeError(f"{len(runs)} succeeded runs listed, expected exactly {m}")
        throughput = {
            "runs": m,
            "trigger_clients": DIST_TRIGGER_CLIENTS,
            **_throughput(m, burst, observed, _last_finished_at(runs)),
            "runs_per_worker": _runs_per_worker(base, runs),
        }
        log(f"  {throughput['runs_per_s']} runs/s; {throughput['runs_per_worker']}")
        _wait_idle(base, IDLE_TIMEOUT)
        time.sleep(IDLE_SETTLE_S)
        log(f"  idle latency: {k} runs, one at a time")
        idle_ref = create_task_over_http(base, "bench-idle", CALLABLE_NOOP)
        idle = _idle_runs(base, idle_ref, k)
        cluster.check_alive()
    return {
        "cluster": {
            "dispatchers": DIST_DISPATCHERS,
            "workers": DIST_WORKERS,
            "max_concurrent_tasks": DIST_SLOTS,
            "heartbeat_interval_s": 1,
            "bus": "redis",
            "startup_s": round(startup, 1),
        },
        "throughput": throughput,
        "idle_latency": idle,
    }


def _runs_per_worker(base: str, runs: list[dict[str, Any]]) -> dict[str, int]:
    """How many of `runs` each worker executed, by worker name."""
    with httpx.Client(base_url=base, timeout=30) as http:
        reply = http.get("/api/workers")
        reply.raise_for_status()
        names = {w["id"]: w["name"] for w in reply.json()}
    counts = Counter(names.get(run["worker_id"], str(run["worker_id"])) for run in runs)
    return dict(sorted(counts.items()))


def _wait_idle(base: str, timeout: float) -> None:
    """Until no run of any task is pending, assigned, running or retrying."""
    deadline = time.monotonic() + timeout
    busy: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=30) as http:
        while time.monotonic() < deadline:
            busy = {}
            for status in UNFINISHED:
                reply = http.get("/api/runs", params={"status": status, "limit": 1})
                reply.raise_for_status()
                if reply.json()["total"]:
                    busy[status] = reply.json()["total"]
            if not busy:
                return
            time.sleep(0.1)
    raise RuntimeError(f"the system did not become idle within {timeout:.0f}s: {busy}")


def _idle_runs(base: str, task_ref: str, k: int) -> dict[str, Any]:
    """K triggers, each after the previous run finished; server-side timestamps per run."""
    assigned: list[float] = []
    started: list[float] = []
    finished: list[float] = []
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(k):
            reply = http.post(f"/api/tasks/{task_ref}/trigger")
            if reply.status_code != 202:
                raise RuntimeError(f"trigger: HTTP {reply.status_code}: {reply.text[:200]}")
            run = _wait_finished(http, reply.json()["run_id"], RUN_TIMEOUT)
            requested = _timestamp(run["requested_at"])
            if requested is None:
                raise RuntimeError(f"run {run['id']} has no requested_at")
            for stamps, key in (
                (assigned, "assigned_at"),
                (started, "started_at"),
                (finished, "finished_at"),
            ):
                stamp = _timestamp(run.get(key))
                if stamp is not None:
                    stamps.append(stamp - requested)
            time.sleep(IDLE_GAP_S)
    if len(started) != k:
        raise RuntimeError(f"only {len(started)}/{k} idle runs have a started_at")
    return {
        "runs": k,
        "gap_s": IDLE_GAP_S,
        "poll_s": POLL_S,
        "requested_to_assigned": latency_summary(assigned) if assigned else None,
        "requested_to_started": latency_summary(started),
        "requested_to_finished": latency_summary(finished),
    }


def _wait_finished(http: httpx.Client, run_id: str, timeout: float) -> dict[str, Any]:
    """Poll GET /api/runs/{id} until the run succeeded; raise on another end or timeout."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        reply = http.get(f"/api/runs/{run_id}")
        if reply.status_code == 200:
            run = reply.json()
            if run["status"] == "succeeded" and run.get("finished_at"):
                return run
            if run["status"] not in UNFINISHED:
                raise RuntimeError(f"idle run {run_id} ended {run['status']}: {run.get('error')}")
        elif reply.status_code != 404:  # 404: not in the view yet
            raise RuntimeError(f"GET run: HTTP {reply.status_code}: {reply.text[:200]}")
        time.sleep(POLL_S)
    raise RuntimeError(f"idle run {run_id} not finished within {timeout:.0f}s: {run.get('status')}")


# Report


def machine_info(with_redis: bool = False) -> dict[str, Any]:
    """What the numbers were measured on."""
    try:
        with psycopg.connect(admin_url(), connect_timeout=5) as connection:
            row = connection.execute("SHOW server_version").fetchone()
            server = row[0] if row else "?"
    except psycopg.Error:
        server = "?"
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": server,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if with_redis:
        info["redis"] = _redis_version()
    return info


def _redis_version() -> str:
    import redis

    try:
        client = redis.Redis.from_url(redis_url(), socket_timeout=5, socket_connect_timeout=5)
        try:
            return str(client.info("server").get("redis_version", "?"))
        finally:
            client.close()
    except redis.RedisError:
        return "?"


def _render(header: str, rows: list[tuple[str, str, str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    line = "-+-".join("-" * w for w in widths)
    body = [
        " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join([header, line, *body, line])


def _footer(results: dict[str, Any]) -> str:
    machine = results["machine"]
    return (
        f"nproc={machine['nproc']}, load avg {machine['load_average'][0]} at start, "
        f"total {results['duration_s']:.0f}s"
    )


def _throughput_rows(b: dict[str, Any], label: str) -> list[tuple[str, str, str]]:
    lat = b["trigger_latency"]
    return [
        (
            f"{label}, M={b['runs']}",
            f"{b['runs_per_s']:.1f} runs/s",
            f"{b['elapsed_s']:.2f}s first trigger→last success",
        ),
        (
            f"POST /trigger ({b['trigger_clients']} clients)",
            f"p50 {lat['p50_ms']:.1f} ms",
            f"p99 {lat['p99_ms']:.1f} ms",
        ),
    ]


def table(results: dict[str, Any]) -> str:
    """The results of the "up" group as a fixed-width text table."""
    bench = results["benchmarks"]
    rows: list[tuple[str, str, str]] = []
    for key in ("create_sequential", "create_threads"):
        if key in bench:
            b = bench[key]
            label = f"create_task, {b['threads']} thread(s), N={b['tasks']}"
            reps = ", ".join(f"{r:.0f}" for r in b["repetitions"])
            rows.append((label, f"{b['median_commands_per_s']:.1f} cmd/s", f"median of [{reps}]"))
    if "trigger" in bench:
        rows.extend(_throughput_rows(bench["trigger"], "trigger→succeeded"))
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
    header = (
        f"Scheduler benchmarks: up ({'quick' if results['quick'] else 'full'}) on PostgreSQL "
        f"{results['machine']['postgres']} — {_footer(results)}"
    )
    return _render(header, rows)


def distributed_table(results: dict[str, Any]) -> str:
    """The results of the "distributed" group as a fixed-width text table."""
    bench = results["benchmarks"]
    shape = bench["cluster"]
    rows = _throughput_rows(bench["throughput"], "trigger→succeeded")
    idle = bench["idle_latency"]
    for key, label in (
        ("requested_to_started", "idle: requested→started"),
        ("requested_to_finished", "idle: requested→finished"),
    ):
        lat = idle[key]
        rows.append(
            (
                f"{label}, K={idle['runs']}",
                f"p50 {lat['p50_ms']:.1f} ms",
                f"p99 {lat['p99_ms']:.1f} ms",
            )
        )
    machine = results["machine"]
    header = (
        f"Scheduler benchmarks: distributed ({'quick' if results['quick'] else 'full'}) — "
        f"api + projector + {shape['dispatchers']} dispatcher + {shape['workers']} workers "
        f"× {shape['max_concurrent_tasks']} slots on PostgreSQL {machine['postgres']} and "
        f"Redis {machine.get('redis', '?')} — {_footer(results)}"
    )
    return _render(header, rows)


def run_up(quick: bool, trigger_timeout: float) -> dict[str, Any]:
    """The "up" group: in-process commands, `scheduler up` throughput, GET latency."""
    sizes = QUICK if quick else FULL
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "sizes": sizes,
        "machine": machine_info(),
        "benchmarks": {},
    }
    began = time.perf_counter()
    bench = results["benchmarks"]
    log(f"up 1/3 task creation, sequential (N={sizes['create_n']}, {REPETITIONS} reps)")
    bench["create_sequential"] = bench_create(sizes["create_n"], 1)
    log(f"up 1/3 task creation, {CREATE_THREADS} threads")
    bench["create_threads"] = bench_create(sizes["create_n"], CREATE_THREADS)
    log(f"up 2/3 trigger→succeeded (M={sizes['trigger_m']})")
    bench["trigger"] = bench_trigger(sizes["trigger_m"], trigger_timeout)
    log(f"up 3/3 GET latency ({sizes['read_tasks']} tasks, {sizes['read_gets']} GETs each)")
    bench["reads"] = bench_reads(sizes["read_tasks"], sizes["read_gets"])
    results["duration_s"] = round(time.perf_counter() - began, 1)
    return results


def run_distributed(quick: bool, trigger_timeout: float) -> dict[str, Any]:
    """The "distributed" group: separate processes on PostgreSQL and Redis Streams."""
    sizes = DIST_QUICK if quick else DIST_FULL
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "sizes": sizes,
        "machine": machine_info(with_redis=True),
    }
    began = time.perf_counter()
    log(
        f"distributed: api + projector + {DIST_DISPATCHERS} dispatcher + {DIST_WORKERS} workers "
        f"(M={sizes['trigger_m']}, K={sizes['latency_k']})"
    )
    results["benchmarks"] = bench_distributed(
        sizes["trigger_m"], sizes["latency_k"], trigger_timeout
    )
    results["duration_s"] = round(time.perf_counter() - began, 1)
    return results


RUNNERS: dict[str, Callable[[bool, float], dict[str, Any]]] = {
    "up": run_up,
    "distributed": run_distributed,
}
TABLES: dict[str, Callable[[dict[str, Any]], str]] = {"up": table, "distributed": distributed_table}


def write_results(name: str, results: dict[str, Any], output: Path | None = None) -> Path:
    """Write `results` as JSON to `output` or `RESULTS/<name>-<UTC time>.json`; the path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = output or RESULTS / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


def load_results(path: Path) -> dict[str, Any]:
    """The stored results keyed by group; a file from before the groups is the "up" group."""
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(stored, dict):
        return {}
    if "benchmarks" in stored:
        return {"up": stored}
    return stored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    # Imported here: the scripts behind these groups import this module by name.
    from groups import RUNNERS as MORE_RUNNERS
    from groups import TABLES as MORE_TABLES

    runners, tables_of = RUNNERS | MORE_RUNNERS, TABLES | MORE_TABLES
    parser.add_argument(
        "--only", choices=list(runners), help="run one group (default: up, then distributed)"
    )
    parser.add_argument(
        "--trigger-timeout",
        type=float,
        default=300.0,
        help="seconds to wait for every triggered run to succeed (default 300)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS / "latest.json",
        help="the JSON to merge the results into, keyed by group",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    groups = [args.only] if args.only else list(GROUPS)
    tables: list[str] = []
    for group in groups:
        results = runners[group](args.quick, args.trigger_timeout)
        stored = load_results(args.output)  # re-read: keep what other runs stored meanwhile
        stored[group] = results
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(stored, indent=2) + "\n")
        tables.append(tables_of[group](results))
    print("\n\n".join(tables))
    print(f"JSON: {args.output} ({', '.join(groups)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
