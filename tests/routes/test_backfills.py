"""Backfill routes in process: preview, start, progress, runs, cancel, refusals, rights."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.task_run import TaskRun
from tests.routes.support import Api, Caller, exercises

B = "/api/tasks/{ref}/backfill"
ONE = "/api/backfills/{backfill_id}"
CANCEL = "/api/backfills/{backfill_id}/cancel"
START = datetime(2026, 1, 1, tzinfo=UTC)


def hourly(client: Caller, **spec: Any) -> str:
    name = f"b-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "command": "true", "schedule": "0 * * * *", **spec}
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["uuid"])


def window(hours: int, **more: Any) -> dict[str, Any]:
    end = START + timedelta(hours=hours - 1)
    return {"from": START.isoformat(), "to": end.isoformat(), **more}


def errors(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return sorted(e["field"] for e in response.json()["errors"])


@exercises("POST", B)
def test_a_dry_run_lists_every_slot_and_whether_it_has_a_run_and_saves_nothing(
    api: Api,
) -> None:
    client = api.client()
    task = hourly(client)
    app = api.container.app
    app.fire_cron([(uuid.UUID(task), START + timedelta(hours=1))], [], "dispatcher", START)
    head = app.head_position()

    response = client.post(f"/api/tasks/{task}/backfill", json=window(3, dry_run=True))

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["slots_total"], body["existing"], body["dry_run"]) == (3, 1, True)
    assert [s["exists"] for s in body["slots"]] == [False, True, False]
    assert [datetime.fromisoformat(s["nominal_time"]) for s in body["slots"]] == [
        START + timedelta(hours=h) for h in range(3)
    ]
    first = body["slots"][0]
    assert first["run_id"] == str(TaskRun.fire_id(uuid.UUID(task), START))
    assert app.head_position() == head


@exercises("POST", B)
def test_bad_backfill_requests_are_422s_naming_the_field(api: Api) -> None:
    client = api.client()
    task = hourly(client)
    url = f"/api/tasks/{task}/backfill"
    too_long = {"from": START.isoformat(), "to": (START + timedelta(days=500)).isoformat()}

    assert errors(client.post(url, json={**too_long, "dry_run": True})) == ["to"]
    assert errors(client.post(url, json=window(2, to="2026-01-01T05:00:00"))) == ["dry_run", "to"]
    assert errors(client.post(url, json=window(1, dry_run=True, to="2025-01-01T00:00:00Z"))) == [
        "to"
    ]
    assert errors(client.post(url, json=window(1, dry_run="yes"))) == ["dry_run"]
    ahead = {"from": START.isoformat(), "to": "2999-01-01T00:00:00+00:00", "dry_run": True}
    assert errors(client.post(url, json=ahead)) == ["to"]
    assert errors(client.post(url, json=window(1, dry_run=False, concurrency=0))) == ["concurrency"]
    assert errors(client.post(url, json=window(1, dry_run=False, concurrency=True))) == [
        "concurrency"
    ]
    assert errors(client.post(url, json=window(1, dry_run=False, overlap_policy="x"))) == [
        "overlap_policy"
    ]
    assert errors(client.post(url, json=window(1, dry_run=True, until="x"))) == ["until"]
    manual = client.post("/api/tasks", json={"name": f"m-{uuid.uuid4().hex[:6]}", "command": "x"})
    manual_url = f"/api/tasks/{manual.json()['uuid']}/backfill"
    assert errors(client.post(manual_url, json=window(1, dry_run=True))) == ["schedule"]
    assert (
        client.post("/api/tasks/nobody/backfill", json=window(1, dry_run=True)).status_code == 404
    )


@exercises("POST", B)
@exercises("GET", ONE)
@exercises("GET", "/api/runs")
def test_a_backfill_is_started_followed_and_its_runs_listed(api: Api) -> None:
    client = api.client()
    task = hourly(client)
    app = api.container.app

    started = client.post(
        f"/api/tasks/{task}/backfill", json=window(3, dry_run=False, concurrency=2)
    )
    assert started.status_code == 202, started.text
    backfill = started.json()
    assert started.headers["Location"] == f"/api/backfills/{backfill['id']}"
    assert (backfill["status"], backfill["slots_total"], backfill["pending"]) == ("running", 3, 3)
    assert backfill["actor"] and backfill["concurrency"] == 2
    # What the dispatcher does each round: release up to the limit.
    app.advance_backfills([(uuid.UUID(backfill["id"]), {})], "dispatcher", datetime.now(UTC))
    api.catch_up()

    progress = client.get(f"/api/backfills/{backfill['id']}").json()
    runs = client.get("/api/runs", params={"backfill": backfill["id"]}).json()
    other = client.get("/api/runs", params={"backfill": backfill["id"], "task": hourly(client)})

    assert (progress["requested"], progress["in_flight"], progress["pending"]) == (2, 2, 1)
    assert runs["total"] == 2 and {r["trigger"] for r in runs["items"]} == {"backfill"}
    assert {r["id"] for r in runs["items"]} == {
        str(TaskRun.fire_id(uuid.UUID(task), START + timedelta(hours=h))) for h in (0, 1)
    }
    assert other.json()["total"] == 0
    assert client.get(f"/api/backfills/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/runs", params={"backfill": str(uuid.uuid4())}).status_code == 404


@exercises("POST", B)
@exercises("POST", CANCEL)
def test_a_cancelled_backfill_cancels_its_pending_runs_and_cannot_be_cancelled_twice(
    api: Api,
) -> None:
    client = api.client()
    task = hourly(client)
    started = client.post(f"/api/tasks/{task}/backfill", json=window(5, dry_run=False)).json()
    key = uuid.UUID(started["id"])
    api.container.app.advance_backfills([(key, {})], "dispatcher", datetime.now(UTC))

    cancelled = client.post(f"/api/backfills/{key}/cancel", json={"reason": "wrong window"})
    again = client.post(f"/api/backfills/{key}/cancel")

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["reason"], body["requested"]) == ("cancelled", "wrong window", 1)
    run = api.container.app.get_run(TaskRun.fire_id(uuid.UUID(task), START))
    assert run.status == "cancelled"
    assert again.status_code == 409
    assert client.post(f"/api/backfills/{uuid.uuid4()}/cancel").status_code == 404


@exercises("POST", B)
@exercises("GET", ONE)
@exercises("POST", CANCEL)
def test_a_viewer_may_preview_and_read_but_only_editors_and_admins_execute_or_cancel(
    api: Api,
) -> None:
    task = hourly(api.client())
    viewer, operator, editor = (api.client(api.key(r)) for r in ("viewer", "operator", "editor"))
    url = f"/api/tasks/{task}/backfill"

    assert viewer.post(url, json=window(2, dry_run=True)).status_code == 200
    assert viewer.post(url, json=window(2, dry_run=False)).status_code == 403
    assert operator.post(url, json=window(2, dry_run=False)).status_code == 403
    started = editor.post(url, json=window(2, dry_run=False))
    assert started.status_code == 202
    one = f"/api/backfills/{started.json()['id']}"
    assert viewer.get(one).status_code == 200
    assert viewer.post(f"{one}/cancel").status_code == 403
    assert operator.post(f"{one}/cancel").status_code == 403
    assert editor.post(f"{one}/cancel").status_code == 200
