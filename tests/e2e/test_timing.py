"""Timing over HTTP: interval and one-shot tasks fire on their slots; bad times are refused."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.conftest import unique, wait_for_run
from tests.e2e.test_runs import create


def cron_runs(client: httpx.Client, ref: str) -> list[dict]:
    items = client.get("/api/runs", params={"task": ref, "limit": 100}).json()["items"]
    return [r for r in items if r["trigger"] == "cron"]


def test_an_interval_task_fires_on_epoch_aligned_slots_and_shows_the_next(
    client: httpx.Client,
) -> None:
    task = create(client, name="every-second", interval_seconds=1)
    next_fire = datetime.fromisoformat(task["next_fire_at"])
    assert next_fire.microsecond == 0 and next_fire > datetime.now(UTC) - timedelta(seconds=1)
    deadline = time.monotonic() + 15
    while len(runs := cron_runs(client, task["name"])) < 3:
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)
    nominals = sorted(datetime.fromisoformat(r["nominal_time"]) for r in runs)
    assert all(n.microsecond == 0 for n in nominals)
    assert len(set(nominals)) == len(nominals), "no slot fired twice"
    assert wait_for_run(client, runs[-1]["id"])["status"] == "succeeded"
    client.post(f"/api/tasks/{task['id']}/pause", json={"reason": "enough"})
    paused = client.get(f"/api/tasks/{task['id']}").json()
    assert (paused["status"], paused["next_fire_at"]) == ("paused", None)


def test_a_run_at_task_fires_once_at_its_moment(client: httpx.Client) -> None:
    moment = (datetime.now(UTC) + timedelta(seconds=2)).replace(microsecond=0)
    task = create(client, name="once", run_at=moment.isoformat())
    assert datetime.fromisoformat(task["next_fire_at"]) == moment
    deadline = time.monotonic() + 15
    while not (runs := cron_runs(client, task["name"])):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert [datetime.fromisoformat(r["nominal_time"]) for r in runs] == [moment]
    assert wait_for_run(client, runs[0]["id"])["status"] == "succeeded"
    time.sleep(1.5)
    assert len(cron_runs(client, task["name"])) == 1
    assert client.get(f"/api/tasks/{task['id']}").json()["next_fire_at"] is None


def test_bad_timing_is_refused_with_422_saying_why(client: httpx.Client) -> None:
    def post(**fields: object) -> httpx.Response:
        return client.post("/api/tasks", json={"name": unique("t"), "command": "true", **fields})

    past = post(run_at="2020-01-01T00:00:00+00:00")
    assert past.status_code == 422 and "not in the future" in past.json()["detail"]
    naive = post(run_at="2030-01-01T00:00:00")
    assert naive.status_code == 422 and "run_at" in naive.json()["detail"]
    both = post(schedule="* * * * *", interval_seconds=5)
    assert both.status_code == 422 and "only one of" in both.json()["detail"]
