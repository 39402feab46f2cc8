"""Benchmark: server render time of the UI's pages with 10,000 tasks and 100,000 runs.

The read tables of a fresh SQLite database are filled directly (a seeded read model: this
measures the pages' queries and templates, not the projectors), plus one real task with a real
run in the log for the task and run pages. Each page is requested REPEAT times in process
(Starlette's TestClient: routing, middlewares, queries and rendering, no network) and the p50 /
p99 are printed. Run: `.venv/bin/python benchmarks/ui_pages.py [--tasks N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

from entrypoints.api.app import create_api
from entrypoints.bootstrap import build_container
from entrypoints.settings import load_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

REPEAT = 200
STATUSES = ("succeeded", "succeeded", "succeeded", "failed", "running", "pending")


def seed(database: object, tasks: int, runs: int) -> None:
    """Rows as the projectors would leave them (one transaction per table)."""
    now = datetime.now(UTC)
    task_ids = [str(uuid.uuid4()) for _ in range(tasks)]
    task_rows = []
    for number, task_id in enumerate(task_ids, start=1):
        spec = {
            "name": f"task-{number}",
            "executor": "shell",
            "command": "echo",
            "schedule": "*/5 * * * *",
            "timezone": "Asia/Shanghai",
        }
        task_rows.append(
            (
                task_id,
                number,
                f"task-{number}",
                "active",
                "normal",
                "*/5 * * * *",
                1,
                json.dumps(spec),
                now.isoformat(),
                now.isoformat(),
                (now + timedelta(minutes=5)).isoformat(),
                number,
            )
        )
    run_rows, stats = [], {}
    for i in range(runs):
        task_id = task_ids[i % tasks]
        status = STATUSES[i % len(STATUSES)]
        finished = (now - timedelta(seconds=runs - i)).isoformat()
        run_id = str(uuid.uuid4())
        run_rows.append(
            (
                run_id,
                task_id,
                f"task-{i % tasks + 1}",
                1,
                status,
                1,
                "cron",
                "normal",
                "{}",
                finished,
                finished,
                0.5,
                0 if status == "succeeded" else 1,
                "boom" if status == "failed" else None,
                tasks + i + 1,
            )
        )
        stats[task_id] = (task_id, run_id, status, finished)
    connection = database._connection()  # type: ignore[attr-defined]  # seeding shortcut
    with connection:
        connection.executemany(
            "INSERT INTO tasks (uuid, number, name, status, priority, schedule, version, spec,"
            " created_at, updated_at, next_fire_at, position) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            task_rows,
        )
        connection.executemany(
            "INSERT INTO runs (id, task_uuid, task_name, task_version, status, attempt, trigger,"
            " priority, params, requested_at, finished_at, duration_seconds, exit_code, error,"
            " position) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            run_rows,
        )
        connection.executemany(
            "INSERT INTO task_run_stats (task_uuid, runs_total, last_run_id, last_status,"
            " last_finished_at) VALUES (?, 10, ?, ?, ?)",
            list(stats.values()),
        )


def measure(client: TestClient, path: str) -> dict[str, float]:
    """p50 and p99 in milliseconds of REPEAT requests of one page."""
    assert client.get(path).status_code == 200, path
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 2),
        "p99_ms": round(times[int(len(times) * 0.99) - 1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings(
            None,
            {
                "SCHEDULER_DATABASE__URL": f"sqlite:///{Path(folder) / 'bench.db'}",
                "SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK": "true",
                "SCHEDULER_API__RATE_LIMIT_PER_SECOND": "0",  # render time, not the limiter
            },
        )
        container = build_container(settings)
        try:
            seed(container.database, args.tasks, args.runs)
            with TestClient(create_api(container), client=("127.0.0.1", 1)) as client:
                task = client.post("/api/tasks", json={"name": "real", "command": "echo"}).json()
                run = client.post(f"/api/tasks/{task['uuid']}/trigger").json()
                pages = [
                    "/ui/",
                    "/ui/tasks",
                    f"/ui/tasks?offset={args.tasks - 50}",
                    "/ui/tasks?q=task-99",
                    f"/ui/tasks/{task['uuid']}",
                    "/ui/runs",
                    "/ui/runs?status=failed",
                    "/ui/runs?after=0",  # the last page (the oldest runs), by keyset
                    f"/ui/runs/{run['run_id']}",
                    "/ui/workers",
                    "/ui/events",
                    "/ui/system",
                    "/ui/keys",
                ]
                results = {page: measure(client, page) for page in pages}
        finally:
            container.close()
    print(
        json.dumps(
            {"tasks": args.tasks, "runs": args.runs, "repeat": REPEAT, "pages": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
