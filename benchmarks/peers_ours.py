"""The scheduler's side of benchmarks/peers.py: N one-`INCR` runs through the distributed cluster.

Measured like the peer harness measures Celery and Dramatiq: the workers are up and warm, the
clock starts before the first enqueue, `enqueue_rate` = N ÷ until the last enqueue was
answered, `e2e_rate` = N ÷ until a Redis counter that every run increments reaches N (polled
every 5 ms). Then every run is checked: `succeeded` in the API and Requested, Assigned, Started
and Succeeded in the event log.
"""

from __future__ import annotations

import shlex
import statistics
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import redis
from enqueue import enqueue
from run import (
    Cluster,
    _succeeded_runs,
    _wait_all_succeeded,
    _wait_idle,
    fire_triggers,
    latency_summary,
    log,
    redis_url,
)

CALLABLE_COMMAND = "entrypoints.examples.tasks:incr"
POLL_S = 0.005  # the harness polls its counter this often
WARM_UP_TIMEOUT = 60.0
IDLE_TIMEOUT = 300.0
REQUIRED_EVENTS = ("Requested", "Assigned", "Started", "Succeeded")
EVENT_TOPICS = (
    "SELECT originator_id::text AS id, array_agg(topic) AS topics FROM scheduler_events "
    "WHERE originator_id = ANY(%(ids)s::uuid[]) GROUP BY originator_id"
)


@dataclass(frozen=True)
class Work:
    """What our side runs: the same work as the peers', enqueued our way."""

    n: int
    executor: str  # "callable" (default) or "shell" (`redis-cli INCR`, until callable lands)
    enqueue: str  # "bulk" (default) or "single" (8-client single triggers)
    single_m: int  # single triggers from `clients` clients, measured separately
    clients: int
    timeout: float


@dataclass(frozen=True)
class IncrTask:
    """A task whose every run increments `counter`, and the trigger body that makes it so."""

    ref: str
    name: str
    counter: str
    body: dict[str, Any]


def create_incr_task(http: httpx.Client, name: str, counter: str, executor: str) -> IncrTask:
    """A `callable` (or shell) task doing one `INCR counter`; raises on a refusal."""
    url = redis_url()
    body: dict[str, Any] = {}
    if executor == "callable":
        # As the task's args (incr(key, redis_url)), not trigger params: a param named `key`
        # is a secret and would be refused without SCHEDULER_SECRET_KEY, or sealed per run.
        spec = {
            "name": name,
            "executor": "callable",
            "command": CALLABLE_COMMAND,
            "args": [counter, url],
        }
    else:
        command = f"redis-cli -u {shlex.quote(url)} INCR {shlex.quote(counter)} >/dev/null"
        spec = {"name": name, "command": command}
    reply = http.post("/api/tasks", json=spec)
    if reply.status_code != 201:
        raise RuntimeError(f"creating {name}: HTTP {reply.status_code}: {reply.text[:300]}")
    return IncrTask(str(reply.json()["id"]), name, counter, body)


def wait_counter(client: redis.Redis, key: str, n: int, timeout: float) -> int:
    """Poll `key` every POLL_S until it reaches `n` or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        done = int(client.get(key) or 0)
        if done >= n:
            return done
        time.sleep(POLL_S)
    return done


def missing_events(
    topics: Mapping[str, Iterable[str]], run_ids: Iterable[str]
) -> dict[str, list[str]]:
    """Per run id, the REQUIRED_EVENTS its topics (`module:TaskRun.Name`) lack; only gaps."""
    gaps: dict[str, list[str]] = {}
    for run_id in run_ids:
        names = {topic.rsplit(".", 1)[-1] for topic in topics.get(run_id, ())}
        lacking = [name for name in REQUIRED_EVENTS if name not in names]
        if lacking:
            gaps[run_id] = lacking
    return gaps


def verify_runs(cluster: Cluster, task: IncrTask, run_ids: list[str], timeout: float) -> dict:
    """Every run `succeeded` in the API and with its four events in the log; raise if not."""
    if len(set(run_ids)) != len(run_ids):
        raise RuntimeError(f"{len(run_ids) - len(set(run_ids))} duplicate run ids were returned")
    began = time.perf_counter()
    _wait_all_succeeded(cluster.url, task.name, len(run_ids), began, timeout)
    listed = {run["id"] for run in _succeeded_runs(cluster.url, task.name, len(run_ids))}
    not_listed = set(run_ids) - listed
    if not_listed:
        raise RuntimeError(
            f"{len(not_listed)} runs not succeeded in the API, e.g. {min(not_listed)}"
        )
    with psycopg.connect(cluster.database_url, connect_timeout=5) as connection:
        rows = connection.execute(EVENT_TOPICS, {"ids": run_ids}).fetchall()
    gaps = missing_events({row[0]: row[1] for row in rows}, run_ids)
    if gaps:
        first = next(iter(gaps.items()))
        raise RuntimeError(f"{len(gaps)} runs lack events in the log, e.g. {first}")
    return {
        "succeeded_in_api": len(listed),
        "with_all_events": len(run_ids) - len(gaps),
        "checked_in_s": round(time.perf_counter() - began, 2),
    }


def warm_up(
    http: httpx.Client, cluster: Cluster, counter: redis.Redis, rep: int, executor: str
) -> None:
    """One run of a separate task, end to end, so the workers have imported and connected."""
    task = create_incr_task(http, f"bench-warm-{rep}", f"{cluster.prefix}:warm:{rep}", executor)
    reply = http.post(f"/api/tasks/{task.ref}/trigger", json=task.body or None)
    if reply.status_code != 202:
        raise RuntimeError(f"warm-up trigger: HTTP {reply.status_code}: {reply.text[:300]}")
    if wait_counter(counter, task.counter, 1, WARM_UP_TIMEOUT) < 1:
        run = http.get(f"/api/runs/{reply.json()['run_id']}").json()
        raise RuntimeError(f"the warm-up run did not count within {WARM_UP_TIMEOUT:.0f}s: {run}")


def throughput(cluster: Cluster, work: Work, counter: redis.Redis, rep: int) -> dict[str, Any]:
    """One repetition of N runs: enqueue rate, end-to-end rate, then the check of every run."""
    with httpx.Client(base_url=cluster.url, timeout=120) as http:
        warm_up(http, cluster, counter, rep, work.executor)
        task = create_incr_task(
            http, f"bench-incr-{rep}", f"{cluster.prefix}:done:{rep}", work.executor
        )
        started = time.perf_counter()
        run_ids = enqueue(cluster.url, task.ref, work.n, work.enqueue, task.body, work.clients)
        enqueued = time.perf_counter()
        done = wait_counter(counter, task.counter, work.n, work.timeout)
        finished = time.perf_counter()
    if done < work.n:
        raise RuntimeError(f"only {done}/{work.n} runs counted within {work.timeout:.0f}s")
    result = {
        "enqueue_rate": round(work.n / (enqueued - started), 1),
        "e2e_rate": round(work.n / (finished - started), 1),
        "enqueue_s": round(enqueued - started, 3),
        "total_s": round(finished - started, 3),
    }
    log(f"  ours rep {rep}: {result}; checking every run")
    result["check"] = verify_runs(cluster, task, run_ids, work.timeout)
    return result


def single_triggers(cluster: Cluster, work: Work, counter: redis.Redis, rep: int) -> dict[str, Any]:
    """`single_m` single `POST …/trigger` from `clients` clients: rate and latency."""
    with httpx.Client(base_url=cluster.url, timeout=120) as http:
        task = create_incr_task(
            http, f"bench-single-{rep}", f"{cluster.prefix}:single:{rep}", work.executor
        )
    burst = fire_triggers(cluster.url, task.ref, work.single_m, work.clients, task.body or None)
    if wait_counter(counter, task.counter, work.single_m, work.timeout) < work.single_m:
        raise RuntimeError(f"the {work.single_m} single-trigger runs did not all count")
    return {
        "triggers": work.single_m,
        "clients": work.clients,
        "rate": round(work.single_m / burst.sent_in_s, 1),
        "latency": latency_summary(burst.latencies),
    }


def run_ours(cluster: Cluster, work: Work, repeat: int) -> dict[str, Any]:
    """`repeat` repetitions of both phases on one cluster; medians and every repetition."""
    counter = redis.Redis.from_url(redis_url(), socket_timeout=10)
    reps: list[dict[str, Any]] = []
    try:
        for rep in range(1, repeat + 1):
            _wait_idle(cluster.url, IDLE_TIMEOUT)
            log(f"ours rep {rep}/{repeat}: {work.n} runs, {work.enqueue} enqueue, {work.executor}")
            row = throughput(cluster, work, counter, rep)
            _wait_idle(cluster.url, IDLE_TIMEOUT)
            log(f"ours rep {rep}/{repeat}: {work.single_m} single triggers, {work.clients} clients")
            row["single"] = single_triggers(cluster, work, counter, rep)
            log(f"  single: {row['single']}")
            reps.append(row)
            cluster.check_alive()
    finally:
        counter.close()
    return summarise(reps)


def summarise(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repetitions of ours, in the harness's `{median, min, max, n}` shape."""
    return {
        "enqueue_rate": spread(r["enqueue_rate"] for r in reps),
        "e2e_rate": spread(r["e2e_rate"] for r in reps),
        "single_rate": spread(r["single"]["rate"] for r in reps),
        "single_p50_ms": spread(r["single"]["latency"]["p50_ms"] for r in reps),
        "single_p99_ms": spread(r["single"]["latency"]["p99_ms"] for r in reps),
        "runs": reps,
    }


def spread(values: Iterable[float]) -> dict[str, float | int]:
    """Median, min, max and count of a non-empty series."""
    series = list(values)
    return {
        "median": statistics.median(series),
        "min": min(series),
        "max": max(series),
        "n": len(series),
    }
