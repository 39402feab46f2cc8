"""`scheduler projections status|rebuild` against a running `scheduler up`, as an operator would."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import SCHEDULER, SchedulerProcess, running_scheduler, wait_for_run
from tests.servers import fresh_postgres_database


def cli(proc: SchedulerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCHEDULER), "projections", *args],
        cwd=proc.workdir,
        env=proc.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def scheduler_on(store: str, workdir: Path) -> Iterator[SchedulerProcess]:
    """`scheduler up` on its own SQLite file or a fresh PostgreSQL database."""
    if store == "sqlite":
        with running_scheduler(workdir) as proc:
            yield proc
        return
    with fresh_postgres_database() as url:
        env = {"SCHEDULER_DATABASE__URL": url}
        with running_scheduler(workdir, env) as proc:
            yield proc


def read_views(client: httpx.Client) -> tuple[object, ...]:
    tasks = client.get("/api/tasks", params={"limit": 100}).json()
    runs = client.get("/api/runs", params={"limit": 100}).json()
    return tasks, runs, client.get("/api/tasks/1").json()


def until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_a_rebuild_swaps_in_equal_tables_while_the_api_keeps_answering(
    store: str, tmp_path: Path
) -> None:
    with scheduler_on(store, tmp_path) as proc, httpx.Client(base_url=proc.url) as client:
        for i in range(8):
            client.post("/api/tasks", json={"name": f"job-{i}", "command": f"exit {i % 2}"})
        runs = [client.post(f"/api/tasks/{i % 8 + 1}/trigger").json()["run_id"] for i in range(16)]
        for run_id in runs:
            wait_for_run(client, run_id)
        before = read_views(client)
        statuses: list[int] = []
        stop = threading.Event()

        def keep_reading() -> None:
            with httpx.Client(base_url=proc.url, timeout=10) as reader:
                while not stop.is_set():
                    statuses.append(reader.get("/api/tasks", params={"limit": 50}).status_code)

        thread = threading.Thread(target=keep_reading)
        thread.start()
        try:
            rebuilt = cli(proc, "rebuild", "--verify")
        finally:
            stop.set()
            thread.join(20)
        assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
        assert "rebuilt tables equal the live tables" in rebuilt.stdout
        assert "events/s" in rebuilt.stderr and "rebuild" in rebuilt.stderr
        assert statuses and set(statuses) == {200}
        assert read_views(client) == before
        # The live runners go on from the swapped-in position, applying each event once.
        again = client.post("/api/tasks/job-0/trigger").json()["run_id"]
        assert wait_for_run(client, again)["status"] == "succeeded"
        assert client.get("/api/tasks/job-0").json()["stats"]["runs_total"] == 3


def test_verify_names_a_live_row_that_differs_from_the_log(tmp_path: Path) -> None:
    with scheduler_on("sqlite", tmp_path) as proc, httpx.Client(base_url=proc.url) as client:
        created = client.post("/api/tasks", json={"name": "honest", "command": "true"}).json()
        client.post("/api/tasks", json={"name": "other", "command": "true"})
        with sqlite3.connect(tmp_path / "var" / "scheduler.db") as db:
            db.execute("UPDATE tasks SET status = 'paused' WHERE number = 1")
        checked = cli(proc, "rebuild", "tasks", "--verify", "--dry-run")
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert f"tasks (uuid={created['uuid']})" in checked.stdout
        assert "status: live 'paused', rebuilt 'active'" in checked.stdout
        assert client.get("/api/tasks/1").json()["status"] == "paused"  # a dry run
        repaired = cli(proc, "rebuild", "tasks")
        assert repaired.returncode == 0, repaired.stderr
        assert client.get("/api/tasks/1").json()["status"] == "active"


def test_status_shows_the_lag_and_the_last_error_and_health_degrades(tmp_path: Path) -> None:
    with scheduler_on("sqlite", tmp_path) as proc, httpx.Client(base_url=proc.url) as client:
        healthy = cli(proc, "status")
        assert healthy.returncode == 0, healthy.stderr
        assert healthy.stdout.splitlines()[0].split()[:6] == [
            "PROJECTION",
            "TABLES",
            "POSITION",
            "HEAD",
            "LAG",
            "STATE",
        ]
        database = tmp_path / "var" / "scheduler.db"
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE workers RENAME TO workers_away")
        client.post("/api/tasks", json={"name": "job", "command": "true"})
        client.post("/api/tasks/job/trigger")  # its assignment is a workers event: it fails
        until(lambda: client.get("/health").json()["status"] == "lagging")
        health = client.get("/health")
        assert health.status_code == 200, "a failing view does not take the process out"
        workers = health.json()["checks"]["projections"]["workers"]
        assert workers["status"] == "degraded" and "workers" in workers["last_error"]
        shown = cli(proc, "status")
        assert shown.returncode == 0, shown.stderr
        row = next(line for line in shown.stdout.splitlines() if line.startswith("workers "))
        cells = row.split()
        assert int(cells[4]) > 0 and cells[5] == "degraded", row  # LAG, STATE
        assert "no such table: workers" in row
        metrics = client.get("/metrics").text
        assert 'scheduler_projection_error{projection="workers"} 1.0' in metrics
        assert 'scheduler_projection_lag_events{projection="workers"}' in metrics
        with sqlite3.connect(database) as db:
            db.execute("ALTER TABLE workers_away RENAME TO workers")
        until(lambda: client.get("/health").json()["status"] == "ok", timeout=40)
        recovered = cli(proc, "status", "--json")
        states = {s["projection"]: s for s in json.loads(recovered.stdout)}
        assert states["workers"]["last_error"] is None and states["workers"]["lag"] == 0
