"""Run routes in process: list, one run (now and then), its events, cancel."""

from __future__ import annotations

import uuid
from typing import Any

from tests.routes.support import Api, Caller, exercises

R = "/api/runs/{run_id}"


def triggered(client: Caller) -> dict[str, Any]:
    name = f"r-{uuid.uuid4().hex[:8]}"
    assert client.post("/api/tasks", json={"name": name, "command": "true"}).status_code == 201
    response = client.post(f"/api/tasks/{name}/trigger")
    assert response.status_code == 202, response.text
    return response.json()


@exercises("GET", "/api/runs")
def test_runs_are_listed_by_task_and_status(api: Api) -> None:
    client = api.client()
    run = triggered(client)

    by_task = client.get("/api/runs", params={"task": run["task_uuid"]})
    pending = client.get("/api/runs", params={"task": str(run["task_id"]), "status": "pending"})
    running = client.get("/api/runs", params={"task": run["task_uuid"], "status": "running"})

    assert by_task.status_code == 200
    assert [r["id"] for r in by_task.json()["items"]] == [run["run_id"]]
    assert pending.json()["total"] == 1 and running.json()["total"] == 0


@exercises("GET", "/api/runs")
def test_listing_runs_of_an_impossible_task_or_status_is_a_422(api: Api) -> None:
    client = api.client()

    huge = client.get("/api/runs", params={"task": "99999999999"})
    assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "task"
    assert client.get("/api/runs", params={"status": "sleeping"}).status_code == 422
    assert client.get("/api/runs", params={"task": "nobody"}).status_code == 404


@exercises("GET", R)
def test_a_run_is_read_with_its_task_number(api: Api) -> None:
    client = api.client()
    run = triggered(client)

    response = client.get(f"/api/runs/{run['run_id']}")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending" and body["task_id"] == run["task_id"]
    assert body["quarantine"] is None


@exercises("GET", R)
def test_a_run_as_it_was_at_a_version_and_an_unknown_run_is_a_404(api: Api) -> None:
    client = api.client()
    run = triggered(client)
    client.post(f"/api/runs/{run['run_id']}/cancel")

    then = client.get(f"/api/runs/{run['run_id']}", params={"version": 1})
    beyond = client.get(f"/api/runs/{run['run_id']}", params={"version": 50})

    assert then.status_code == 200 and then.json()["status"] == "pending"
    assert then.json()["task_id"] == run["task_id"]
    assert beyond.status_code == 422
    assert client.get(f"/api/runs/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/runs/not-a-uuid").status_code == 404


@exercises("GET", f"{R}/events")
def test_a_runs_events_come_from_the_store_with_their_positions(api: Api) -> None:
    client = api.client()
    run = triggered(client)

    response = client.get(f"/api/runs/{run['run_id']}/events")

    assert response.status_code == 200
    assert [e["type"] for e in response.json()] == ["TaskRun.Requested"]
    assert response.json()[0]["position"] == run["position"]
    assert client.get(f"/api/runs/{uuid.uuid4()}/events").status_code == 404


@exercises("POST", f"{R}/cancel")
def test_a_pending_run_is_cancelled_once(api: Api) -> None:
    client = api.client()
    run = triggered(client)

    cancelled = client.post(f"/api/runs/{run['run_id']}/cancel")
    again = client.post(f"/api/runs/{run['run_id']}/cancel")

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert client.post(f"/api/runs/{uuid.uuid4()}/cancel").status_code == 404


@exercises("GET", "/api/runs")
def test_runs_page_by_position_before_and_after_as_well_as_by_offset(api: Api) -> None:
    client = api.client()
    name = f"k-{uuid.uuid4().hex[:8]}"
    assert client.post("/api/tasks", json={"name": name, "command": "true"}).status_code == 201
    ids = [client.post(f"/api/tasks/{name}/trigger").json()["run_id"] for _ in range(3)]
    api.catch_up()

    def page(**params: Any) -> list[dict[str, Any]]:
        response = client.get("/api/runs", params={"task": name, "limit": 2, **params})
        assert response.status_code == 200, response.text
        assert response.json()["total"] == 3
        return response.json()["items"]

    newest = page()
    older = page(before=newest[-1]["position"])
    oldest = page(after=0)

    assert [r["id"] for r in newest] == [ids[2], ids[1]]
    assert [r["id"] for r in older] == [ids[0]]
    assert [r["id"] for r in page(after=older[0]["position"])] == [ids[2], ids[1]]
    assert [r["id"] for r in oldest] == [ids[1], ids[0]]
    assert [r["id"] for r in page(offset=2)] == [ids[0]]
    assert client.get("/api/runs", params={"before": 0}).json()["errors"][0]["field"] == "before"
