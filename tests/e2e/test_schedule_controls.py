"""Schedule controls end to end on PostgreSQL: `scheduler up` decides them from the log."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import running_scheduler, unique, wait_for_run
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


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def trigger(client: httpx.Client, task: dict) -> str:
    response = client.post(f"/api/tasks/{task['uuid']}/trigger")
    assert response.status_code == 202, response.text
    return str(response.json()["run_id"])


def test_buffer_one_keeps_one_run_waiting_and_skips_the_rest(pg_client: httpx.Client) -> None:
    task = create(pg_client, command="sleep 1", concurrency_policy="buffer_one")
    first = trigger(pg_client, task)
    deadline = time.monotonic() + 15
    while pg_client.get(f"/api/runs/{first}").json()["status"] not in ("assigned", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    kept, dropped, also_dropped = (trigger(pg_client, task) for _ in range(3))
    for run_id in (dropped, also_dropped):
        run = wait_for_run(pg_client, run_id)
        assert run["status"] == "skipped", run
        assert "already waiting behind the running one" in run["reason"]
    assert wait_for_run(pg_client, first)["status"] == "succeeded"
    after = wait_for_run(pg_client, kept)
    assert after["status"] == "succeeded"
    ended = pg_client.get(f"/api/runs/{first}").json()["finished_at"]
    assert moment(after["started_at"]) >= moment(ended)


def test_buffer_all_runs_each_in_request_order_one_at_a_time(pg_client: httpx.Client) -> None:
    task = create(pg_client, command="sleep 0.3", concurrency_policy="buffer_all")
    run_ids = [trigger(pg_client, task) for _ in range(3)]
    runs = [wait_for_run(pg_client, run_id) for run_id in run_ids]
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    for earlier, later in itertools.pairwise(runs):
        assert moment(later["started_at"]) >= moment(earlier["finished_at"]), (earlier, later)


def test_remaining_runs_fires_that_many_slots_then_pauses_saying_so(
    pg_client: httpx.Client,
) -> None:
    task = create(pg_client, interval_seconds=1, remaining_runs=2)
    deadline = time.monotonic() + 20
    while (seen := pg_client.get(f"/api/tasks/{task['uuid']}").json())["status"] != "paused":
        assert time.monotonic() < deadline, seen
        time.sleep(0.1)
    cron = [r for r in runs_of(pg_client, task["uuid"]) if r["trigger"] == "cron"]
    assert len(cron) == 2
    assert seen["remaining_runs"] == 0 and seen["next_fire_at"] is None
    assert seen["pause_reason"].startswith("remaining_runs is 0: the last one fired")


def test_runs_of_one_concurrency_key_go_one_at_a_time_and_other_keys_beside_them(
    pg_client: httpx.Client,
) -> None:
    task = create(pg_client, command="sleep 0.5", concurrency_key="{customer_id}")

    def run_for(customer: str) -> str:
        body = {"params": {"customer_id": customer}}
        response = pg_client.post(f"/api/tasks/{task['uuid']}/trigger", json=body)
        assert response.status_code == 202, response.text
        return str(response.json()["run_id"])

    first, second, other = run_for("acme"), run_for("acme"), run_for("globex")
    done = {run_id: wait_for_run(pg_client, run_id) for run_id in (first, second, other)}
    assert {r["status"] for r in done.values()} == {"succeeded"}
    assert moment(done[second]["started_at"]) >= moment(done[first]["finished_at"])
    assert moment(done[other]["started_at"]) < moment(done[first]["finished_at"])
    events = pg_client.get(f"/api/runs/{second}/events").json()
    waits = [e for e in events if e["type"] == "TaskRun.Waiting"]
    assert [e["payload"]["code"] for e in waits] == ["concurrency_key"], events
