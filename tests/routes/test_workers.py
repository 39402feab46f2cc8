"""Worker routes in process: registration, heartbeats, reads, history, drain."""

from __future__ import annotations

import uuid
from typing import Any

from tests.routes.support import Api, Caller, exercises

W = "/api/workers/{worker_id}"


def register(client: Caller, name: str | None = None) -> dict[str, Any]:
    body = {"name": name or f"w-{uuid.uuid4().hex[:8]}", "max_concurrent_tasks": 2}
    response = client.post("/api/workers", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@exercises("POST", "/api/workers")
def test_a_worker_registers_over_http_and_is_seen_alive(api: Api) -> None:
    response = api.client().post("/api/workers", json={"name": "http-worker"})

    assert response.status_code == 201
    worker = response.json()
    assert worker["name"] == "http-worker" and worker["status"] == "active"
    assert response.headers["X-Log-Position"]


@exercises("POST", "/api/workers")
def test_registering_with_a_bad_capacity_is_a_422_naming_it(api: Api) -> None:
    response = api.client().post("/api/workers", json={"name": "w", "max_concurrent_tasks": 0})

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "max_concurrent_tasks"


@exercises("GET", "/api/workers")
def test_workers_are_listed_and_filtered_by_status(api: Api) -> None:
    client = api.client()
    worker = register(client)

    active = client.get("/api/workers", params={"status": "active"})

    assert active.status_code == 200
    assert worker["id"] in {w["id"] for w in active.json()}
    assert client.get("/api/workers", params={"status": "asleep"}).status_code == 422


@exercises("GET", W)
def test_a_worker_is_read_now_and_at_a_version(api: Api) -> None:
    client = api.client()
    worker = register(client)

    now = client.get(f"/api/workers/{worker['id']}")
    then = client.get(f"/api/workers/{worker['id']}", params={"version": 1})

    assert now.status_code == 200 and now.json()["max_concurrent_tasks"] == 2
    assert then.status_code == 200 and then.json()["status"] == "active"
    assert client.get(f"/api/workers/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/workers/not-a-uuid").status_code == 404


@exercises("GET", f"{W}/history")
def test_a_workers_history_lists_its_events(api: Api) -> None:
    client = api.client()
    worker = register(client)
    client.post(f"/api/workers/{worker['id']}/drain")

    response = client.get(f"/api/workers/{worker['id']}/history")

    assert response.status_code == 200
    assert response.json()[0]["type"] == "Worker.Registered"
    assert len(response.json()) == 2
    assert client.get(f"/api/workers/{uuid.uuid4()}/history").status_code == 404


@exercises("POST", f"{W}/heartbeat")
def test_a_heartbeat_renews_the_lease_of_a_known_worker_only(api: Api) -> None:
    client = api.client()
    worker = register(client)

    beat = client.post(f"/api/workers/{worker['id']}/heartbeat", json={"running": []})

    assert beat.status_code == 204
    assert client.post(f"/api/workers/{uuid.uuid4()}/heartbeat").status_code == 404


@exercises("POST", "/api/workers")
@exercises("POST", f"{W}/heartbeat")
def test_a_worker_key_beats_only_for_the_workers_it_registered(api: Api) -> None:
    mine, theirs = api.client(api.key("worker")), api.client(api.key("worker"))
    worker = register(mine)

    assert mine.post(f"/api/workers/{worker['id']}/heartbeat").status_code == 204
    refused = theirs.post(f"/api/workers/{worker['id']}/heartbeat")
    assert refused.status_code == 403 and "registered" in refused.json()["detail"]


@exercises("POST", f"{W}/drain")
def test_a_worker_is_drained_once_and_an_unknown_one_is_a_404(api: Api) -> None:
    client = api.client()
    worker = register(client)

    drained = client.post(f"/api/workers/{worker['id']}/drain")

    assert drained.status_code == 200 and drained.json()["status"] == "draining"
    assert client.post(f"/api/workers/{uuid.uuid4()}/drain").status_code == 404
