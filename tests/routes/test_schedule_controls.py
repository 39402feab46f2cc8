"""Schedule-control fields through the task routes: stored, shown, changed and refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.jitter import jitter_offset
from tests.routes.support import Api, exercises

T = "/api/tasks/{ref}"


def body(**fields: Any) -> dict[str, Any]:
    return {"name": f"c-{uuid.uuid4().hex[:8]}", "command": "true", **fields}


@exercises("POST", "/api/tasks")
@exercises("GET", T)
@exercises("PATCH", T)
def test_pause_after_failures_is_stored_shown_and_changed(api: Api) -> None:
    client = api.client()
    created = client.post("/api/tasks", json=body(pause_after_failures=3))
    assert created.status_code == 201, created.text
    ref = created.json()["uuid"]
    assert client.get(f"/api/tasks/{ref}").json()["pause_after_failures"] == 3

    changed = client.patch(f"/api/tasks/{ref}", json={"pause_after_failures": 5})

    assert changed.status_code == 200, changed.text
    assert client.get(f"/api/tasks/{ref}").json()["pause_after_failures"] == 5


@pytest.mark.parametrize("value", [0, 1_001, 2.5, True])
@exercises("POST", "/api/tasks")
def test_a_bad_pause_after_failures_is_a_422_naming_the_field(api: Api, value: Any) -> None:
    response = api.client().post("/api/tasks", json=body(pause_after_failures=value))

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"pause_after_failures"}


@exercises("POST", "/api/tasks")
@exercises("GET", T)
def test_the_next_fire_shows_the_slot_plus_its_jitter(api: Api) -> None:
    client = api.client()
    created = client.post("/api/tasks", json=body(interval_seconds=3_600, jitter_seconds=1_800))
    assert created.status_code == 201, created.text
    task = client.get(f"/api/tasks/{created.json()['uuid']}").json()

    created_at = datetime.fromisoformat(task["created_at"]).timestamp()
    slot = datetime.fromtimestamp((created_at // 3_600 + 1) * 3_600, UTC)  # the next hour
    offset = jitter_offset(uuid.UUID(task["uuid"]), slot, 1_800)
    assert task["jitter_seconds"] == 1_800
    assert datetime.fromisoformat(task["next_fire_at"]) == slot + offset


@pytest.mark.parametrize("value", [-1, 3_601, 2.5])
@exercises("PATCH", T)
def test_a_bad_jitter_is_a_422_naming_the_field(api: Api, value: Any) -> None:
    client = api.client()
    ref = client.post("/api/tasks", json=body()).json()["uuid"]

    response = client.patch(f"/api/tasks/{ref}", json={"jitter_seconds": value})

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"jitter_seconds"}


@pytest.mark.parametrize("value", [-1, 1_000_001, 2.5, True])
@exercises("POST", "/api/tasks")
def test_a_bad_remaining_runs_is_a_422_naming_the_field(api: Api, value: Any) -> None:
    response = api.client().post("/api/tasks", json=body(remaining_runs=value))

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"remaining_runs"}


@exercises("PATCH", T)
@exercises("GET", T)
def test_remaining_runs_is_shown_and_changed(api: Api) -> None:
    client = api.client()
    ref = client.post("/api/tasks", json=body(interval_seconds=3_600)).json()["uuid"]
    assert client.get(f"/api/tasks/{ref}").json()["remaining_runs"] is None

    changed = client.patch(f"/api/tasks/{ref}", json={"remaining_runs": 10})

    assert changed.status_code == 200, changed.text
    assert client.get(f"/api/tasks/{ref}").json()["remaining_runs"] == 10


@exercises("POST", "/api/tasks")
@exercises("GET", T)
def test_a_concurrency_key_is_stored_and_shown(api: Api) -> None:
    client = api.client()
    fields = {"concurrency_key": "{customer_id}", "max_concurrency_per_key": 2}
    created = client.post("/api/tasks", json=body(**fields))
    assert created.status_code == 201, created.text

    task = client.get(f"/api/tasks/{created.json()['uuid']}").json()

    assert {name: task[name] for name in fields} == fields


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"concurrency_key": "customer"}, "concurrency_key"),
        ({"concurrency_key": "{a.b}"}, "concurrency_key"),
        ({"concurrency_key": "{c}", "max_concurrency_per_key": 0}, "max_concurrency_per_key"),
    ],
)
@exercises("POST", "/api/tasks")
def test_a_bad_concurrency_key_is_a_422_naming_the_field(
    api: Api, fields: dict[str, Any], field: str
) -> None:
    response = api.client().post("/api/tasks", json=body(**fields))

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {field}
