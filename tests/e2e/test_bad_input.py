"""Bad input gets a clear 4xx naming the problem, never a 500, and changes nothing stored."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import unique


def create(client: httpx.Client, **fields: object) -> httpx.Response:
    return client.post("/api/tasks", json={"name": unique("job"), "command": "true", **fields})


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"schedule": "61 * * * *"}, "schedule"),
        ({"schedule": "* * *"}, "schedule"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"priority": "urgent"}, "priority"),
        ({"executor": "docker"}, "executor"),
        ({"retry_count": -1}, "retry_count"),
        ({"timeout_seconds": "soon"}, "timeout_seconds"),
        ({"name": ""}, "name"),
        ({"name": "42"}, "name"),
        ({"shedule": "@daily"}, "shedule"),
    ],
)
def test_an_invalid_field_is_named_in_a_422(client: httpx.Client, fields: dict, field: str) -> None:
    response = create(client, **fields)
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}
    assert field in response.json()["detail"]


def test_malformed_json_is_a_422(client: httpx.Client) -> None:
    response = client.post(
        "/api/tasks", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


def test_an_oversized_body_is_a_413(client: httpx.Client) -> None:
    response = create(client, description="x" * 2_000_000)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]


def test_a_duplicate_name_is_a_409(client: httpx.Client) -> None:
    name = unique("dup")
    assert create(client, name=name).status_code == 201
    response = create(client, name=name)
    assert response.status_code == 409
    assert name in response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/tasks/99999",
        "/api/tasks/no-such-task",
        "/api/tasks/00000000-0000-0000-0000-000000000000",
        "/api/runs/00000000-0000-0000-0000-000000000000",
        "/api/runs/not-a-uuid",
        "/api/workers/not-a-uuid",
    ],
)
def test_an_unknown_reference_is_a_404(client: httpx.Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]


def test_triggering_an_unknown_task_is_a_404(client: httpx.Client) -> None:
    assert client.post("/api/tasks/99999/trigger").status_code == 404


def test_a_bad_update_is_refused_and_the_stored_task_is_unchanged(client: httpx.Client) -> None:
    task = create(client, schedule="@daily").json()
    response = client.patch(f"/api/tasks/{task['id']}", json={"schedule": "every day"})
    assert response.status_code == 422
    assert "schedule" in response.json()["detail"]
    after = client.get(f"/api/tasks/{task['id']}").json()
    assert (after["schedule"], after["version"]) == ("@daily", 1)
    history = client.get(f"/api/events?after={0}&limit=1000").json()["items"]
    assert not [
        e for e in history if e["type"] == "Task.Updated" and e["originator_id"] == task["uuid"]
    ]


def test_an_update_with_a_stale_version_is_a_409(client: httpx.Client) -> None:
    task = create(client).json()
    assert client.patch(
        f"/api/tasks/{task['id']}", json={"priority": "high"}, headers={"If-Match": "1"}
    ).is_success
    stale = client.patch(
        f"/api/tasks/{task['id']}", json={"priority": "low"}, headers={"If-Match": "1"}
    )
    assert stale.status_code == 409
    assert "concurrent modification" in stale.json()["detail"]
    assert client.get(f"/api/tasks/{task['id']}").json()["priority"] == "high"


def test_pausing_twice_is_a_409_and_deleting_frees_the_name(client: httpx.Client) -> None:
    name = unique("cycle")
    task = create(client, name=name).json()
    assert client.post(f"/api/tasks/{task['id']}/pause").json()["status"] == "paused"
    assert client.post(f"/api/tasks/{task['id']}/pause").status_code == 409
    assert client.delete(f"/api/tasks/{task['id']}").json()["status"] == "deleted"
    assert client.post(f"/api/tasks/{task['id']}/trigger").status_code == 409
    reused = create(client, name=name).json()
    assert reused["id"] > task["id"] and reused["uuid"] != task["uuid"]


def test_bad_query_parameters_are_422(client: httpx.Client) -> None:
    assert client.get("/api/tasks", params={"limit": 0}).status_code == 422
    assert client.get("/api/tasks", params={"status": "sleeping"}).status_code == 422
    assert client.get("/api/runs", params={"status": "weird"}).status_code == 422


def test_a_unicode_digit_reference_is_a_name_not_a_number(client: httpx.Client) -> None:
    assert client.post("/api/tasks/%C2%B2/trigger").status_code == 404
    assert client.get("/api/tasks/%C2%B2").status_code == 404
