"""Schedule controls end to end on PostgreSQL: `scheduler up` decides them from the log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import running_scheduler, unique
from tests.servers import fresh_postgres_database


@pytest.fixture(scope="module")
def pg_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """A client of one `scheduler up` on a fresh PostgreSQL database, for the module."""
    workdir: Path = tmp_path_factory.mktemp("controls")
    with (
        fresh_postgres_database() as url,
        running_scheduler(workdir, {"SCHEDULER_DATABASE__URL": url}) as scheduler,
        httpx.Client(base_url=scheduler.url, timeout=10) as client,
    ):
        yield client


def create(client: httpx.Client, **fields: object) -> dict:
    body = {"name": unique("ctl"), "command": "true", **fields}
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def runs_of(client: httpx.Client, ref: str) -> list[dict]:
    return client.get("/api/runs", params={"task": ref, "limit": 100}).json()["items"]


def test_a_task_failing_three_times_in_a_row_is_paused_with_the_reason(
    pg_client: httpx.Client,
) -> None:
    task = create(pg_client, command="exit 3", interval_seconds=1, pause_after_failures=3)
    deadline = time.monotonic() + 20
    while (seen := pg_client.get(f"/api/tasks/{task['uuid']}").json())["status"] != "paused":
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    failed = [r for r in runs_of(pg_client, task["uuid"]) if r["status"] == "failed"]
    assert len(failed) == 3
    last = max(failed, key=lambda r: r["finished_at"])
    assert seen["pause_reason"] == f"paused after 3 consecutive failures: last run {last['id']}"
    history = pg_client.get(f"/api/tasks/{task['uuid']}/history").json()
    [paused] = [e for e in history if e["type"] == "Task.Paused"]
    assert paused["actor"] != "anonymous@loopback"  # the dispatcher decided it
    assert paused["payload"]["reason"] == seen["pause_reason"]
