"""Benchmark: the live event table stays bounded under retention (docs/retention.md).

Writes finished runs' events (requested, assigned, started, succeeded: four a run) straight
into the store in saves of 500 runs, their times spread over simulated days, and every
`--export-hours` simulated hours runs what `scheduler archive export --detach` runs, with a
one-day window. It reports, after each export, the live table's size
(`pg_total_relation_size` over the partitions of `scheduler_events`), the archive's bytes,
and how long the export and the detach took. No workers run: the runs are synthesised, so
the numbers are those of the storage path alone.

A stand-in consumer (one `projection_tracking` row moved to the head before each export)
plays the part of projections that keep up: no read-table projection runs here.

Run: `.venv/bin/python benchmarks/retention.py [--quick] [--runs N] [--days D]`.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from run import fresh_database, log, write_results

from adapters.audit_chain import SqlChainStore
from application.archive.ports import LiveStore, Removal
from application.archive.service import Archiving
from domain.context import CommandContext
from domain.task_run import TaskRun
from entrypoints.bootstrap import build_live_store, build_store
from entrypoints.settings import load_settings

RUNS_PER_SAVE = 500
WORKER = uuid.uuid4()
STAND_IN = "benchmark-consumer"
TASK = {"name": "bench", "command": "true", "executor": "shell", "priority": "normal"}


@dataclass
class TimedLive:
    """The live store, with the time each removal took."""

    live: LiveStore
    removals: list[float] = field(default_factory=list)

    @property
    def removes(self) -> bool:
        return self.live.removes

    def horizon_at_or_below(self, position: int) -> int:
        return self.live.horizon_at_or_below(position)

    def consumer_floor(self) -> int:
        return self.live.consumer_floor()

    def keep_ahead(self) -> list[str]:
        return self.live.keep_ahead()

    def live_bytes(self) -> int | None:
        return self.live.live_bytes()

    def remove_archived(self, horizon: int, ids: set[uuid.UUID], keep: bool) -> Removal:
        started = time.perf_counter()
        try:
            return self.live.remove_archived(horizon, ids, keep)
        finally:
            self.removals.append(time.perf_counter() - started)


def context(now: datetime) -> CommandContext:
    return CommandContext(actor="bench", now=now, correlation_id=uuid.uuid4())


def finished_runs(count: int, now: datetime) -> list[TaskRun]:
    """`count` runs that were requested, assigned, started and succeeded at `now`."""
    ctx, runs = context(now), []
    task_id = uuid.uuid4()
    for _ in range(count):
        run = TaskRun.request(
            uuid.uuid4(), task_id=task_id, task_version=1, task=TASK, trigger="manual", ctx=ctx
        )
        attempt = run.assign(WORKER, ctx)
        run.record_started(attempt, WORKER, 1, ctx)
        run.record_succeeded(attempt, 0, 0.01, "", ctx)
        runs.append(run)
    return runs


def directory_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.glob("*") if p.is_file())


def live_rows(store: Any) -> int:
    row = store.database.one("SELECT count(*) AS n FROM scheduler_events")
    return int(row["n"]) if row else 0


def measure(args: argparse.Namespace, url: str, archive: Path) -> dict[str, Any]:
    env = {
        "SCHEDULER_DATABASE__URL": url,
        "SCHEDULER_RETENTION__ENABLED": "true",
        "SCHEDULER_RETENTION__PARTITION_EVENTS": str(args.partition),
        "SCHEDULER_RETENTION__ARCHIVE_DIR": str(archive),
    }
    settings = load_settings(None, env)
    store = build_store(settings, "scheduler-bench")
    timed = TimedLive(build_live_store(settings, store.database))
    archiving = Archiving(store.app, SqlChainStore(store.database), timed, archive)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    seconds_per_run = args.days * 86_400 / args.runs
    every = timedelta(hours=args.export_hours)
    next_export = start + timedelta(days=1) + every
    rounds: list[dict[str, Any]] = []
    written = write_seconds = 0.0
    done = 0
    try:
        with store.database.transaction() as tx:
            tx.execute(
                "INSERT INTO projection_tracking (projection, position) VALUES (%(p)s, 0)",
                {"p": STAND_IN},
            )
        while done < args.runs:
            count = min(RUNS_PER_SAVE, args.runs - done)
            now = start + timedelta(seconds=done * seconds_per_run)
            began = time.perf_counter()
            store.app.save(*finished_runs(count, now))
            write_seconds += time.perf_counter() - began
            timed.keep_ahead()  # what each dispatcher does every [retention] interval_seconds
            written += count * 4
            done += count
            if now >= next_export or done == args.runs:
                rounds.append(export_round(store, archiving, timed, archive, now, args))
                next_export += every
    finally:
        store.close()
    sizes = [r["live_mb"] for r in rounds]
    half = sizes[len(sizes) // 2 :]
    return {
        "runs": args.runs,
        "events_written": int(written),
        "days": args.days,
        "window_hours": 24,
        "partition_events": args.partition,
        "export_every_hours": args.export_hours,
        "write_events_per_second": round(written / write_seconds),
        "rounds": rounds,
        "live_mb_max": max(sizes),
        "live_mb_last": sizes[-1],
        "live_mb_second_half_spread": round(max(half) - min(half), 1),
        "archive_mb": rounds[-1]["archive_mb"],
        "export_events_per_second_median": statistics.median(
            r["export_events_per_second"] for r in rounds if r["archived_events"]
        )
        if any(r["archived_events"] for r in rounds)
        else 0,
        "detach_seconds_max": round(max(timed.removals, default=0.0), 2),
        "machine": platform.platform(),
    }


def export_round(
    store: Any,
    archiving: Archiving,
    timed: TimedLive,
    archive: Path,
    now: datetime,
    args: argparse.Namespace,
) -> dict[str, Any]:
    head = store.app.head_position()
    with store.database.transaction() as tx:
        tx.execute(
            "UPDATE projection_tracking SET position = %(h)s WHERE projection = %(p)s",
            {"h": head, "p": STAND_IN},
        )
    removals = len(timed.removals)
    began = time.perf_counter()
    outcome = archiving.export(now - timedelta(hours=24), 24, context(now), True, False)
    seconds = time.perf_counter() - began
    archived = int(outcome.file["events"]) if outcome.file else 0
    row = {
        "simulated_day": round((now - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds() / 86400, 2),
        "head": head,
        "horizon": outcome.horizon,
        "archived_events": archived,
        "live_rows": live_rows(store),
        "live_mb": round((timed.live_bytes() or 0) / 1e6, 1),
        "archive_mb": round(directory_bytes(archive) / 1e6, 1),
        "export_seconds": round(seconds, 2),
        "export_events_per_second": round(archived / seconds) if archived else 0,
        "detach_seconds": round(timed.removals[-1], 2) if len(timed.removals) > removals else 0,
    }
    log(
        f"day {row['simulated_day']:5}: head {head:>9,}  live {row['live_rows']:>9,} rows "
        f"{row['live_mb']:>7} MB  archive {row['archive_mb']:>6} MB  archived {archived:>8,} "
        f"in {row['export_seconds']} s (detach {row['detach_seconds']} s)"
    )
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50,000 runs over 3 days")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=4.0)
    parser.add_argument("--partition", type=int, default=100_000, help="positions a partition")
    parser.add_argument("--export-hours", type=float, default=6.0, help="simulated hours apart")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.days, args.partition = 50_000, 3.0, 10_000
    archive = Path(tempfile.mkdtemp(prefix="scheduler-archive-"))
    try:
        with fresh_database() as url:
            results = measure(args, url, archive)
    finally:
        shutil.rmtree(archive, ignore_errors=True)
    path = write_results("retention-quick" if args.quick else "retention", results, args.output)
    keys = [k for k in results if k not in ("rounds", "machine")]
    for key in keys:
        print(f"{key:34} {results[key]}")
    log(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
