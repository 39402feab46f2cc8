"""Benchmark: rebuild rate of every projection on PostgreSQL (`scheduler projections rebuild`).

Fills a fresh `scheduler_bench_<hex>` database with a mixed log (tasks created, updated,
paused, resumed and deleted; workers registered; runs requested, assigned, started, succeeded,
failed and retried), saving hundreds of aggregates per save so that the log fills quickly,
then times `scheduler projections rebuild` (every projection, swapped in) REPETITIONS times
and prints the median rate in log events per second.

Run: `.venv/bin/python benchmarks/rebuild.py [--events 200000] [--url URL]`. Without --url the
database is created and always dropped; with --url an existing database is used and kept
(and filled only when its log is shorter than --events).

With `--projector` it times the live projector instead: the read tables emptied, a
`scheduler projector` process started on the whole log, the time from its first applied
batch until every projection stands at the head (its batches, `[projections] batch_size`).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import psycopg

# benchmarks/ is on sys.path when this file is run as a script (as for cron_lateness.py).
from run import SCHEDULER, fresh_database, log, write_results

from application.commands.app import SchedulerApp
from domain.context import CommandContext
from domain.task_run import TaskRun
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container, build_container
from entrypoints.settings import load_settings
from projections.catalog import all_projections

REPETITIONS = 3
TASKS = 500
WORKERS = 20
RUNS_PER_SAVE = 500
FAILURE_RATE = 0.15  # of attempts; tasks allow one retry, so some runs fail for good


def ctx(actor: str = "bench", run: TaskRun | None = None) -> CommandContext:
    """A context stamped now; decisions about a run keep its correlation, as the app does."""
    if run is None:
        return CommandContext(actor=actor, now=datetime.now(UTC), correlation_id=uuid.uuid4())
    return CommandContext(
        actor=actor, now=datetime.now(UTC), correlation_id=run.correlation_id, causation_id=run.id
    )


def fill(container: Container, events: int, seed: int = 7) -> int:
    """Append a mixed workload until the log holds at least `events` events; returns the head."""
    app, draw = container.app, random.Random(seed)
    workers = [
        app.register_worker(
            name=f"w{i}",
            hostname="bench",
            executors=["shell"],
            queues=["default"],
            labels={},
            max_concurrent_tasks=1000,
            ctx=ctx(),
        ).aggregate_id
        for i in range(WORKERS)
    ]
    tasks = _tasks(app, draw)
    while app.head_position() < events:
        _run_round(app, tasks, workers, draw)
        log(f"  log at {app.head_position()} events")
    app.recover_workers([(workers[-1], [])], 3, "bench", datetime.now(UTC))
    return app.head_position()


def _tasks(app: SchedulerApp, draw: random.Random) -> list[Any]:
    ids = []
    for i in range(TASKS):
        spec = validate_spec(
            {"name": f"bench-{i}", "command": "true", "retry_count": 1, "retry_delay_seconds": 0}
        )
        ids.append(app.create_task(spec, ctx()).aggregate_id)
    for task_id in draw.sample(ids, TASKS // 10):
        app.update_task(task_id, {"priority": "high"}, ctx())
        app.pause_task(task_id, "bench", ctx())
        app.resume_task(task_id, ctx())
    doomed = draw.sample(ids, TASKS // 50)
    for task_id in doomed:
        app.delete_task(task_id, "bench", ctx())
    return [app.get_task(i) for i in ids if i not in doomed]


def _run_round(
    app: SchedulerApp, tasks: list[Any], workers: list[Any], draw: random.Random
) -> None:
    """RUNS_PER_SAVE runs from request to outcome, each step one save of every run."""
    runs = []
    for _ in range(RUNS_PER_SAVE):
        task = draw.choice(tasks)
        runs.append(
            TaskRun.request(
                uuid.uuid4(),
                task_id=task.id,
                task_version=task.version,
                task=task.spec,
                trigger="manual",
                ctx=ctx(),
            )
        )
    app.save(*runs)
    open_runs = runs
    while open_runs:
        for run in open_runs:
            run.assign(draw.choice(workers), ctx("dispatcher", run))
        app.save(*open_runs)
        for run in open_runs:
            run.record_started(run.attempt, run.worker_id, 1234, ctx("worker", run))
        app.save(*open_runs)
        for run in open_runs:
            if draw.random() < FAILURE_RATE:
                run.record_failed(
                    run.attempt, 1, "exit 1", 0.5, "boom", ctx("worker", run), retry_delay_seconds=0
                )
            else:
                run.record_succeeded(run.attempt, 0, draw.random(), "ok", ctx("worker", run))
        app.save(*open_runs)
        open_runs = [run for run in open_runs if run.status == "retrying"]


def time_rebuild(url: str, batch_size: int) -> dict[str, Any]:
    """One `scheduler projections rebuild` of every projection; its own reported rate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env["SCHEDULER_DATABASE__URL"] = url
    started = time.perf_counter()
    done = subprocess.run(
        [str(SCHEDULER), "projections", "rebuild", "--batch-size", str(batch_size)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"rebuild failed:\n{done.stdout}\n{done.stderr}")
    log(f"  {done.stdout.strip()}")
    return {"wall_seconds": round(wall, 2), "output": done.stdout.strip()}


def time_projector(url: str, head: int) -> dict[str, Any]:
    """A `scheduler projector` started on emptied read tables, until it reaches `head`."""
    empty_views(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDULER_")}
    env["SCHEDULER_DATABASE__URL"] = url
    # Its log goes to a file: a pipe nobody reads could fill up and stall the projector.
    with tempfile.TemporaryFile("w+") as errors:
        spawned = time.perf_counter()
        process = subprocess.Popen(
            [str(SCHEDULER), "projector"], env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
        try:
            first, done = _until_caught_up(url, head, process, errors)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    elapsed = done - first
    log(f"  projector: {head} events in {elapsed:.1f}s ({head / elapsed:,.0f} events/s)")
    return {
        "seconds": round(elapsed, 2),
        "events_per_s": round(head / elapsed),
        "wall_seconds": round(done - spawned, 2),
    }


def _until_caught_up(
    url: str, head: int, process: subprocess.Popen[Any], errors: Any
) -> tuple[float, float]:
    """When the first batch showed and when every projection reached `head`."""
    first: float | None = None
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            if process.poll() is not None:
                errors.seek(0)
                raise RuntimeError(f"the projector exited: {errors.read()[-2000:]}")
            low, high, count = connection.execute(POSITIONS).fetchone() or (0, 0, 0)
            now = time.perf_counter()
            if first is None and (high or 0) > 0:
                first = now
            if first is not None and count >= len(all_projections()) and (low or 0) >= head:
                return first, now
            time.sleep(0.05)


POSITIONS = "SELECT min(position), max(position), count(*) FROM projection_tracking"


def empty_views(url: str) -> None:
    """Every read table empty and every projection at 0, as before its first batch."""
    tables = [table for projection in all_projections() for table in projection.tables]
    with psycopg.connect(url, autocommit=True) as connection, connection.transaction():
        connection.execute(f"TRUNCATE {', '.join(tables)}")
        connection.execute("DELETE FROM projection_tracking")
        connection.execute("DELETE FROM projection_status")
        connection.execute("DELETE FROM quarantine WHERE consumer LIKE 'projection:%'")


def rate_of(output: str) -> float:
    """The events/s figure the rebuild printed."""
    found = re.search(r"\(([\d,]+) events/s\)", output)
    if found is None:
        raise RuntimeError(f"no rate in: {output}")
    return float(found.group(1).replace(",", ""))


def main() -> None:
    """Fill, rebuild REPETITIONS times, print and save the median rate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help="log size to rebuild")
    parser.add_argument("--url", help="use (and keep) this PostgreSQL database")
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument(
        "--projector", action="store_true", help="time the live projector, not a rebuild"
    )
    args = parser.parse_args()
    with _database(args.url) as url:
        container = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
        try:
            head = container.app.head_position()
            if head < args.events:
                log(f"filling the log to {args.events} events")
                started = time.perf_counter()
                head = fill(container, args.events)
                log(f"  {head} events in {time.perf_counter() - started:.1f}s")
        finally:
            container.close()
        if args.projector:
            project(url, head)
            return
        runs = []
        for rep in range(1, REPETITIONS + 1):
            log(f"rebuild {rep}/{REPETITIONS}")
            runs.append(time_rebuild(url, args.batch_size))
    rates = [rate_of(r["output"]) for r in runs]
    wall_rates = [head / r["wall_seconds"] for r in runs]
    result = {
        "benchmark": "projection_rebuild",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "events": head,
        "batch_size": args.batch_size,
        "rebuilds": runs,
        "events_per_s": rates,
        "median_events_per_s": round(statistics.median(rates)),
        # The whole command, process start and connections included.
        "median_wall_events_per_s": round(statistics.median(wall_rates)),
    }
    write_results("rebuild", result)
    print(f"rebuild of every projection, {head} events: median {result['median_events_per_s']:,}")
    print(f"events/s over {REPETITIONS} runs: {', '.join(f'{r:,.0f}' for r in rates)}")
    print(f"wall time of the command: median {result['median_wall_events_per_s']:,} events/s")


def project(url: str, head: int) -> None:
    """The projector's rate over REPETITIONS runs, printed and saved."""
    runs = []
    for rep in range(1, REPETITIONS + 1):
        log(f"projector {rep}/{REPETITIONS}")
        runs.append(time_projector(url, head))
    rates = [r["events_per_s"] for r in runs]
    result = {
        "benchmark": "projector_catch_up",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "events": head,
        "runs": runs,
        "median_events_per_s": round(statistics.median(rates)),
    }
    write_results("projector", result)
    print(f"projector from 0 to {head} events: median {result['median_events_per_s']:,} events/s")
    print(f"events/s over {REPETITIONS} runs: {', '.join(f'{r:,}' for r in rates)}")


@contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with fresh_database() as created:
        yield created


if __name__ == "__main__":
    main()
