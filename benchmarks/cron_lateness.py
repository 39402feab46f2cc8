"""Cron lateness on PostgreSQL: how late every-minute slots fire, start and finish.

Two parts. "lateness": N tasks with `schedule: "* * * * *"` (shell `true`) are created
in-process on a fresh database, then `scheduler up` runs through M minute boundaries and
every run is read back over `GET /api/runs`; for each slot, requested_at/assigned_at/
started_at/finished_at are compared with its nominal time. "firing": the dispatcher's
`fire_due_slots()` timed in-process for K due tasks (fires/s), on a fake clock.
Run: `.venv/bin/python benchmarks/cron_lateness.py [--quick] [--tasks N] [--minutes M]`.
Helpers (fresh databases, `scheduler up`, percentiles) come from benchmarks/run.py; every
database is dropped and every subprocess stopped, also on failure. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

# benchmarks/ is on sys.path when this file is run as a script (as for distributed.py).
from run import (
    fresh_database,
    in_process,
    latency_summary,
    log,
    machine_info,
    percentile,
    scheduler_up,
    write_results,
)

from application.dispatch.dispatcher import Dispatcher
from application.ports import FakeClock
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import Container

FULL = {"tasks": 1000, "minutes": 3, "fire_tasks": 5000}
QUICK = {"tasks": 200, "minutes": 2, "fire_tasks": 1000}
SCHEDULE = "* * * * *"
CREATE_THREADS = 4
FIRE_REPETITIONS = 3
READY_MARGIN_S = 1.0  # a boundary this close after start-up is not counted (fired at start)
FINISH_TIMEOUT_S = 120.0  # after the last counted boundary, for its runs to finish
POLL_S = 1.0  # how often /api/system/stats is polled while the last minute's runs finish
HEALTH_EVERY_S = 15.0  # while waiting for boundaries: notice a dead scheduler early
PAGE = 500  # the API's largest page
FAKE_AFTER_BOUNDARY_S = 0.5  # the firing benchmark's clock, this far past the boundary
UNFINISHED = ("pending", "assigned", "running", "retrying")
STAMPS = (  # (label, field of the run): each is measured from the slot's nominal time
    ("fire", "requested_at"),
    ("assign", "assigned_at"),
    ("start", "started_at"),
    ("finish", "finished_at"),
)


def cron_spec(name: str) -> dict[str, Any]:
    """An every-minute no-op shell task; misfire policy and the rest left at their defaults."""
    return {"name": name, "executor": "shell", "command": "true", "schedule": SCHEDULE}


def create_cron_tasks(container: Container, names: list[str], now: datetime | None) -> None:
    """create_task for every name from CREATE_THREADS threads; re-raises the first failure.

    `now` fixes every command's time (the event timestamp, which is the cron anchor) so that
    all tasks share the same first slot; None uses the wall clock per command.
    """

    def create(chunk: list[str]) -> None:
        for name in chunk:
            ctx = CommandContext(
                actor="bench", now=now or datetime.now(UTC), correlation_id=uuid.uuid4()
            )
            container.app.create_task(validate_spec(cron_spec(name)), ctx)

    chunks = [names[i::CREATE_THREADS] for i in range(CREATE_THREADS)]
    with ThreadPoolExecutor(max_workers=CREATE_THREADS) as pool:
        for future in [pool.submit(create, chunk) for chunk in chunks]:
            future.result()


def next_boundary(epoch: float) -> float:
    """The first whole minute strictly after `epoch` (Unix seconds)."""
    return (int(epoch // 60) + 1) * 60.0


def iso(epoch: float) -> str:
    """Unix seconds as an ISO UTC timestamp, for the report."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def epoch_of(value: str | None) -> float | None:
    """An API timestamp as Unix seconds (None stays None)."""
    return datetime.fromisoformat(value).timestamp() if value else None


def summary(seconds: list[float]) -> dict[str, Any] | None:
    """count, p50/p90/p99/max/mean in milliseconds (run.py's latency_summary plus p90)."""
    if not seconds:
        return None
    base = latency_summary(seconds)
    return {
        "count": base["count"],
        "p50_ms": base["p50_ms"],
        "p90_ms": round(percentile([s * 1000 for s in seconds], 90), 3),
        "p99_ms": base["p99_ms"],
        "max_ms": base["max_ms"],
        "mean_ms": base["mean_ms"],
    }


# Part 1: lateness through `scheduler up`


def wait_until(http: httpx.Client, target: float) -> None:
    """Sleep until the wall clock reaches `target`, checking now and then the server lives."""
    last_check = time.time()
    while (left := target - time.time()) > 0:
        time.sleep(min(left, 1.0))
        # A dead scheduler shows up at the next check instead of after every minute waited.
        if time.time() - last_check >= HEALTH_EVERY_S and target - time.time() > 5:
            http.get("/health", timeout=10).raise_for_status()
            last_check = time.time()


def read_all_runs(http: httpx.Client) -> dict[str, dict[str, Any]]:
    """Every run in the view by id, paged newest first.

    New runs are inserted at the top while we page, which only shifts older runs to later
    offsets: a run may be seen twice (the later copy is kept) but none is skipped.
    """
    runs: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        reply = http.get("/api/runs", params={"limit": PAGE, "offset": offset})
        reply.raise_for_status()
        items = reply.json()["items"]
        for item in items:
            runs[item["id"]] = item
        if len(items) < PAGE:
            return runs
        offset += PAGE


def run_counts(http: httpx.Client) -> dict[str, int]:
    """Runs by status in one cheap request (so the polling barely loads the server)."""
    reply = http.get("/api/system/stats")
    reply.raise_for_status()
    return {str(k): int(v) for k, v in reply.json().get("runs", {}).items()}


def complete(runs: Iterable[dict[str, Any]], boundaries: list[float], n: int) -> bool:
    """Whether every counted boundary has n distinct fired slots, all finished."""
    slots: dict[float, set[str]] = defaultdict(set)
    for run in runs:
        nominal = epoch_of(run.get("nominal_time"))
        if nominal in boundaries:
            if run["status"] in UNFINISHED:
                return False
            slots[nominal].add(run["task_uuid"])
    return all(len(slots[b]) >= n for b in boundaries)


def collect_runs(
    http: httpx.Client, boundaries: list[float], n: int
) -> tuple[dict[str, dict[str, Any]], bool]:
    """After the last boundary, wait (bounded) until its runs finished; then read every run."""
    deadline = boundaries[-1] + FINISH_TIMEOUT_S
    expected = n * len(boundaries)
    while time.time() < deadline:
        counts = run_counts(http)
        unfinished = sum(counts.get(s, 0) for s in UNFINISHED)
        # Reading every page is heavier, so only once the cheap counts say it may be done.
        if unfinished == 0 and sum(counts.values()) >= expected:
            runs = read_all_runs(http)
            if complete(runs.values(), boundaries, n):
                return runs, True
        time.sleep(POLL_S)
    log(f"  not every counted slot fired and finished within {FINISH_TIMEOUT_S:.0f}s")
    return read_all_runs(http), False


def stamp_stats(runs: list[tuple[float, dict[str, Any]]]) -> dict[str, Any]:
    """Lateness of each stamp after the nominal time, and the time between stamps.

    `runs` pairs each run with its slot's nominal time (Unix seconds).
    """
    out: dict[str, Any] = {}
    for label, key in STAMPS:
        out[f"{label}_lateness"] = summary(
            [s - nominal for nominal, r in runs if (s := epoch_of(r.get(key))) is not None]
        )
    # Each stage on its own, per run: which step the lateness accumulates in.
    stages: dict[str, Any] = {}
    for (_, earlier), (_, later) in pairwise(STAMPS):
        gaps = [
            b - a
            for _, r in runs
            if (a := epoch_of(r.get(earlier))) is not None
            and (b := epoch_of(r.get(later))) is not None
        ]
        stages[f"{earlier.removesuffix('_at')}_to_{later.removesuffix('_at')}"] = summary(gaps)
    out["stages"] = stages
    return out


def slot_stats(runs: list[dict[str, Any]], nominal: float, n: int) -> dict[str, Any]:
    """Counts, lateness of every stamp and the firing rate for one nominal minute."""
    fired = {r["task_uuid"] for r in runs}
    out: dict[str, Any] = {
        "nominal": iso(nominal),
        "expected": n,
        "fired_slots": len(fired),
        "runs": len(runs),
        "duplicates": len(runs) - len(fired),  # run ids are per slot, so this must be 0
        "statuses": dict(Counter(r["status"] for r in runs)),
        **stamp_stats([(nominal, r) for r in runs]),
    }
    requested = sorted(s for s in (epoch_of(r.get("requested_at")) for r in runs) if s is not None)
    if requested:
        spread = requested[-1] - requested[0]
        last_batch = requested.count(requested[-1])
        out["nominal_to_first_requested_s"] = round(requested[0] - nominal, 3)
        out["nominal_to_last_requested_s"] = round(requested[-1] - nominal, 3)
        out["first_to_last_requested_s"] = round(spread, 3)
        out["distinct_requested_at"] = len(set(requested))
        # requested_at is the dispatcher's clock when a fire_cron batch began, the same for
        # the whole batch: one batch has no spread, and the span first → last stamp covers
        # every batch but the last. So also: runs of the batches inside the span / span.
        out["fires_per_s"] = round(len(requested) / spread, 1) if spread > 0 else None
        out["fires_per_s_within_span"] = (
            round((len(requested) - last_batch) / spread, 1) if spread > 0 else None
        )
    started = sorted(s for s in (epoch_of(r.get("started_at")) for r in runs) if s is not None)
    if len(started) > 1 and started[-1] > started[0]:
        # How fast the queue of this minute's runs drained onto the worker's slots.
        out["nominal_to_first_started_s"] = round(started[0] - nominal, 3)
        out["starts_per_s"] = round((len(started) - 1) / (started[-1] - started[0]), 1)
    return out


def _median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are set, or None."""
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def analyse(runs: dict[str, dict[str, Any]], boundaries: list[float], n: int) -> dict[str, Any]:
    """Per counted minute and overall; runs of other slots are only counted."""
    by_nominal: dict[float, list[dict[str, Any]]] = defaultdict(list)
    other_triggers: Counter[str] = Counter()
    for run in runs.values():
        nominal = epoch_of(run.get("nominal_time"))
        if run.get("trigger") != "cron" or nominal is None:
            other_triggers[str(run.get("trigger"))] += 1
            continue
        by_nominal[nominal].append(run)
    per_minute = [slot_stats(by_nominal.get(b, []), b, n) for b in boundaries]
    counted = [(b, r) for b in boundaries for r in by_nominal.get(b, [])]
    overall: dict[str, Any] = {
        "expected": n * len(boundaries),
        "fired_slots": sum(m["fired_slots"] for m in per_minute),
        "runs": len(counted),
        "duplicates": sum(m["duplicates"] for m in per_minute),
        "statuses": dict(Counter(r["status"] for _, r in counted)),
        **stamp_stats(counted),
        "fires_per_s_median": _median(m.get("fires_per_s") for m in per_minute),
        "fires_per_s_within_span_median": _median(
            m.get("fires_per_s_within_span") for m in per_minute
        ),
        "starts_per_s_median": _median(m.get("starts_per_s") for m in per_minute),
        "nominal_to_last_requested_s_max": max(
            (m.get("nominal_to_last_requested_s", 0.0) for m in per_minute), default=None
        ),
    }
    return {
        "overall": overall,
        "per_minute": per_minute,
        "uncounted_slots": {
            iso(b): len(rs) for b, rs in sorted(by_nominal.items()) if b not in boundaries
        },
        "non_cron_runs": dict(other_triggers),
    }


class IncompleteError(Exception):
    """Not every counted slot fired and finished in time."""


def bench_lateness(n: int, minutes: int, slots: int) -> dict[str, Any]:
    """N every-minute tasks under `scheduler up` for M counted minute boundaries."""
    with fresh_database() as url:
        # Created before the server starts: nothing else competes for the database, and the
        # dispatcher reads the tasks from the log when it starts.
        with in_process(url) as container:
            began = time.perf_counter()
            create_cron_tasks(container, [f"cron-{i}" for i in range(n)], None)
            create_s = time.perf_counter() - began
        created = time.time()
        log(f"  created {n} tasks in {create_s:.1f}s ({n / create_s:.0f}/s); starting scheduler")
        started = time.perf_counter()
        try:
            with (
                scheduler_up(url, slots=slots) as base,
                httpx.Client(base_url=base, timeout=30) as http,
            ):
                ready = time.time()
                startup_s = time.perf_counter() - started
                first = next_boundary(ready + READY_MARGIN_S - 1e-9)
                boundaries = [first + 60 * i for i in range(minutes)]
                log(
                    f"  scheduler up in {startup_s:.1f}s; counting {minutes} boundaries "
                    f"{iso(boundaries[0])} … {iso(boundaries[-1])}"
                )
                for boundary in boundaries:
                    wait_until(http, boundary)
                    log(f"  boundary {iso(boundary)} passed")
                runs, finished = collect_runs(http, boundaries, n)
                collected = time.time()
                if not finished:
                    # Raised inside so that scheduler_up prints the end of the server's log;
                    # what was measured is still reported.
                    raise IncompleteError
        except IncompleteError:
            pass
    result = analyse(runs, boundaries, n)
    return {
        "tasks": n,
        "minutes_counted": minutes,
        "schedule": SCHEDULE,
        "create_s": round(create_s, 1),
        "tasks_created_at": iso(created),
        "scheduler_ready_at": iso(ready),
        "scheduler_startup_s": round(startup_s, 1),
        "counted_boundaries": [iso(b) for b in boundaries],
        "all_finished": finished,
        "collected_s_after_last_boundary": round(collected - boundaries[-1], 1),
        **result,
    }


# Part 2: the dispatcher's firing throughput, in-process


def bench_firing(k: int) -> dict[str, Any]:
    """fire_due_slots() for K due slots, cold then warm cache, median of repetitions."""
    reps: list[dict[str, Any]] = []
    for rep in range(1, FIRE_REPETITIONS + 1):
        with fresh_database() as url:
            anchor = datetime.now(UTC)
            with in_process(url) as container:
                began = time.perf_counter()
                create_cron_tasks(container, [f"fire-{rep}-{i}" for i in range(k)], anchor)
                create_s = time.perf_counter() - began
            # A second container, as in a dispatcher process that did not create the tasks:
            # its aggregate cache is cold for the first fire, as it is after a restart.
            with in_process(url) as container:
                reps.append(_fire_twice(container, anchor, k) | {"create_s": round(create_s, 1)})
        log(
            f"  fire x{k}, rep {rep}: cold {reps[-1]['cold']['fires_per_s']}/s, "
            f"warm {reps[-1]['warm']['fires_per_s']}/s"
        )
    return {
        "tasks": k,
        "repetitions": reps,
        "median_cold_fires_per_s": round(
            statistics.median(r["cold"]["fires_per_s"] for r in reps), 1
        ),
        "median_warm_fires_per_s": round(
            statistics.median(r["warm"]["fires_per_s"] for r in reps), 1
        ),
    }


def _fire_twice(container: Container, anchor: datetime, k: int) -> dict[str, Any]:
    """Replay the log, then fire the first slot (cold) and the next minute's (warm)."""
    boundary = datetime.fromtimestamp(next_boundary(anchor.timestamp()), UTC)
    clock = FakeClock(boundary + timedelta(seconds=FAKE_AFTER_BOUNDARY_S))
    dispatcher = Dispatcher(
        container.app,
        container.bus,
        container.liveness,
        clock,
        container.log_wakeup,
        name="bench-dispatcher",
    )
    began = time.perf_counter()
    replayed = dispatcher.follow_log()
    out: dict[str, Any] = {
        "replay_events": replayed,
        "replay_s": round(time.perf_counter() - began, 3),
    }
    for label in ("cold", "warm"):
        began = time.perf_counter()
        fires, misfires = dispatcher.cron.due(clock.now())
        plan_s = time.perf_counter() - began
        if len(fires) != k or misfires:
            raise RuntimeError(f"{label}: {len(fires)} due slots, {len(misfires)} misfires")
        head = container.app.head_position()
        began = time.perf_counter()
        dispatcher.fire_due_slots()
        fire_s = time.perf_counter() - began
        written = container.app.head_position() - head
        if written != k:  # one Requested event per slot, nothing else
            raise RuntimeError(f"{label}: {written} events written for {k} slots")
        out[label] = {
            "plan_s": round(plan_s, 3),
            "fire_s": round(fire_s, 3),
            "fires_per_s": round(k / fire_s, 1),
        }
        clock.advance(60)
    return out


# Main


def code_version() -> dict[str, Any]:
    """The commit measured and whether tracked files differed from it (read-only git)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else "?"

    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "--short", "HEAD"), "dirty": dirty not in ("", "?")}


def main(argv: list[str] | None = None) -> int:
    """Parse options, run both parts, print and store the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--tasks", type=int, help="every-minute tasks (default 1000; quick 200)")
    parser.add_argument("--minutes", type=int, help="boundaries counted (default 3; quick 2)")
    parser.add_argument(
        "--fire-tasks", type=int, help="tasks in the firing benchmark (default 5000; quick 1000)"
    )
    parser.add_argument(
        "--slots", type=int, default=20, help="concurrent runs of the local worker (default 20)"
    )
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    for key in ("tasks", "minutes", "fire_tasks"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    if min(sizes.values()) < 1:
        parser.error("--tasks, --minutes and --fire-tasks must be at least 1")
    logging.basicConfig(level=logging.WARNING)
    # SIGTERM unwinds like Ctrl-C, so the finally blocks drop databases and stop the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "sizes": sizes,
        "machine": machine_info(),
        "code": code_version(),
    }
    began = time.perf_counter()
    log(f"1/2 cron lateness: {sizes['tasks']} tasks, {sizes['minutes']} minute boundaries")
    results["worker_slots"] = args.slots
    results["lateness"] = bench_lateness(sizes["tasks"], sizes["minutes"], args.slots)
    log(f"2/2 firing throughput: {sizes['fire_tasks']} tasks, {FIRE_REPETITIONS} reps")
    results["firing"] = bench_firing(sizes["fire_tasks"])
    results["duration_s"] = round(time.perf_counter() - began, 1)
    output = write_results("cron_lateness", results)
    print(json.dumps(results, indent=2))
    log(f"JSON: {output}")
    if not results["lateness"]["all_finished"]:
        log("INCOMPLETE: not every counted slot fired and finished; see the JSON and log above")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
