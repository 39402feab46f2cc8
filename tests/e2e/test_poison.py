"""Events no handler can process, written straight into the log of a running scheduler.

Whatever is in the log, every other task keeps firing, dispatching and projecting; restart and
rebuild work; the quarantine names exactly the bad aggregates; an operator can repair them.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from application.commands.app import SchedulerApp
from entrypoints.settings import load_settings
from tests import poison
from tests.e2e.conftest import SCHEDULER, SchedulerProcess, running_scheduler, wait_for_run
from tests.servers import fresh_postgres_database

pytestmark = pytest.mark.e2e


@contextmanager
def store(kind: str, workdir: Path) -> Iterator[dict[str, str]]:
    """The environment naming a fresh store: its own SQLite file or PostgreSQL database."""
    if kind == "sqlite":
        yield {"SCHEDULER_DATABASE__URL": f"sqlite:///{workdir / 'var' / 'scheduler.db'}"}
        return
    with fresh_postgres_database() as url:
        yield {"SCHEDULER_DATABASE__URL": url}


@contextmanager
def the_log(env: dict[str, str]) -> Iterator[SchedulerApp]:
    """The running scheduler's event store, opened beside it (its recorder, no validation)."""
    settings = load_settings(None, env)
    app = SchedulerApp(env={**settings.eventstore_env(), "CREATE_TABLE": "n"})
    try:
        yield app
    finally:
        app.close()


def cli(proc: SchedulerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCHEDULER), *args],
        cwd=proc.workdir,
        env=proc.env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def held(client: httpx.Client) -> set[str]:
    return {e["aggregate_id"] for e in client.get("/api/system/quarantine").json()["items"]}


def until(check: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def cron_runs(client: httpx.Client, task: str) -> int:
    return client.get("/api/runs", params={"task": task, "status": "succeeded"}).json()["total"]


def still_running(client: httpx.Client) -> None:
    """Manual runs succeed and the every-second task keeps firing."""
    run = client.post("/api/tasks/ok/trigger").json()
    assert wait_for_run(client, run["run_id"])["status"] == "succeeded"
    before = cron_runs(client, "every-second")
    until(lambda: cron_runs(client, "every-second") >= before + 2, what="cron runs")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_poison_in_the_log_stops_nothing_and_can_be_repaired(kind: str, tmp_path: Path) -> None:
    with store(kind, tmp_path) as env:
        with running_scheduler(tmp_path, env) as proc, httpx.Client(base_url=proc.url) as client:
            every = {"name": "every-second", "command": "true", "schedule": "* * * * * *"}
            assert client.post("/api/tasks", json=every).status_code == 201
            ok = client.post("/api/tasks", json={"name": "ok", "command": "echo fine"}).json()
            with the_log(env) as app:
                bad = poison.inject_all(app, uuid.UUID(ok["uuid"]), "feb-31")
            ids = {str(b) for b in bad.values()}
            until(lambda: held(client) == ids, what=f"quarantine {ids}")
            health = client.get("/health")
            assert health.status_code == 200 and health.json()["status"] == "quarantined"
            named = {a["aggregate_id"] for a in health.json()["checks"]["quarantine"]["aggregates"]}
            assert named == ids
            still_running(client)
            rebuilt = cli(proc, "projections", "rebuild", "--verify")
            assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
            status = cli(proc, "projections", "status")
            assert status.returncode == 0 and "quarantined (" in status.stdout
            metrics = client.get("/metrics").text
            assert 'scheduler_quarantined_aggregates{consumer="projection:runs"}' in metrics
            for kind_, ref in (("task", "feb-31"), ("run", str(bad["undecodable"]))):
                replayed = cli(proc, "replay", kind_, ref)
                assert replayed.returncode == 0, replayed.stdout + replayed.stderr
            assert "cannot be decoded" in replayed.stdout
            audited = cli(proc, "audit", "verify")  # the chain hashes bytes: nothing to decode
            assert audited.returncode == 0, audited.stdout + audited.stderr
        # A restart replays the whole log, poison included.
        with running_scheduler(tmp_path, env) as proc, httpx.Client(base_url=proc.url) as client:
            assert held(client) == ids
            still_running(client)
            # Repair: a corrective update by name, through the write side.
            fixed = client.patch("/api/tasks/feb-31", json={"schedule": "*/2 * * * * *"})
            assert fixed.status_code == 200, fixed.text
            until(lambda: cron_runs(client, "feb-31") >= 1, what="the repaired task to fire")
            if str(bad["impossible_schedule"]) in held(client):
                retried = cli(proc, "quarantine", "retry", "feb-31")
                assert retried.returncode == 0, retried.stdout + retried.stderr
            # The run with a broken definition is cancelled, then everything else released.
            cancelled = client.post(f"/api/runs/{bad['wrong_type']}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            for key in ("wrong_type", "unknown_topic", "undecodable"):
                released = cli(proc, "quarantine", "release", str(bad[key]))
                assert released.returncode == 0, released.stdout + released.stderr
            assert held(client) == set()
            until(lambda: client.get("/health").json()["status"] == "ok", what="health ok")
            rebuilt = cli(proc, "projections", "rebuild", "--verify")
            assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
            still_running(client)
