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


def log_head(client: httpx.Client) -> int:
    """The log's newest position: unchanged means nothing was stored."""
    return int(client.get("/api/events", params={"after": 0, "limit": 1}).json()["head"])


def refused(response: httpx.Response, field: str, words: str, status: int = 422) -> None:
    """The answer has the status and names the field and the reason, in errors and detail."""
    assert response.status_code == status, response.text
    body = response.json()
    named = [
        e["message"]
        for e in body.get("errors", [])
        if e["field"] == field or e["field"].startswith(f"{field}.")
    ]
    assert named and any(words in m for m in named), body
    assert field in body["detail"] and words in body["detail"]


@pytest.mark.parametrize("schedule", ["0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *"])
def test_a_schedule_that_never_fires_is_a_422_and_nothing_is_stored(
    client: httpx.Client, schedule: str
) -> None:
    head, total = log_head(client), client.get("/api/tasks").json()["total"]
    refused(create(client, schedule=schedule), "schedule", "never fires")
    assert log_head(client) == head
    assert client.get("/api/tasks").json()["total"] == total


def test_february_29_is_a_schedule_that_fires(client: httpx.Client) -> None:
    response = create(client, schedule="0 0 29 2 *")
    assert response.status_code == 201, response.text
    assert response.json()["next_fire_at"][5:10] == "02-29"


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"run_at": "9999-12-31T23:59:59-12:00"}, "run_at", "out of range"),
        ({"run_at": "9999-06-30T00:00:00+00:00"}, "run_at", "out of range"),
        ({"schedule": "@daily", "timezone": "localtime"}, "timezone", "not an IANA"),
        ({"schedule": "@daily", "timezone": "/etc/localtime"}, "timezone", "not an IANA"),
        ({"schedule": "@daily", "timezone": "Europe/../UTC"}, "timezone", "not an IANA"),
        ({"working_dir": "relative/dir"}, "working_dir", "absolute path"),
        ({"working_dir": ""}, "working_dir", "absolute path"),
        ({"labels": {f"k{i}": "v" for i in range(65)}}, "labels", "at most 64"),
        ({"labels": {"k" * 64: "v"}}, "labels", "at most 63"),
        ({"labels": {"k": "v" * 201}}, "labels.k", "at most 200"),
        ({"retry_count": True}, "retry_count", "boolean"),
        ({"timeout_seconds": False}, "timeout_seconds", "boolean"),
        ({"priority": True}, "priority", "Input should be"),
        ({"retry_backoff": True}, "retry_backoff", "boolean"),
        ({"interval_seconds": True}, "interval_seconds", "boolean"),
        (
            {"executor": "http", "command": "http://x", "http": {"expected_status": [True]}},
            "http.expected_status.0",
            "boolean",
        ),
    ],
)
def test_a_definition_the_consumers_cannot_follow_is_a_422_naming_it(
    client: httpx.Client, fields: dict, field: str, words: str
) -> None:
    head = log_head(client)
    refused(create(client, **fields), field, words)
    assert log_head(client) == head


def test_an_update_to_a_schedule_that_never_fires_is_refused(client: httpx.Client) -> None:
    task = create(client, schedule="0 0 28 2 *").json()
    head = log_head(client)
    refused(
        client.patch(f"/api/tasks/{task['id']}", json={"schedule": "0 0 30 2 *"}),
        "schedule",
        "never fires",
    )
    refused(
        client.patch(f"/api/tasks/{task['id']}", json={"timezone": "localtime"}),
        "timezone",
        "not an IANA",
    )
    refused(
        client.patch(f"/api/tasks/{task['id']}", json={"retry_count": True}),
        "retry_count",
        "boolean",
    )
    assert log_head(client) == head
    assert client.get(f"/api/tasks/{task['id']}").json()["version"] == 1


def test_overlong_numbers_anywhere_are_a_422_naming_them(client: httpx.Client) -> None:
    task = create(client).json()
    head = log_head(client)
    digits = "9" * 5_000
    refused(
        client.patch(
            f"/api/tasks/{task['id']}", json={"priority": "high"}, headers={"If-Match": digits}
        ),
        "If-Match",
        "version number",
    )
    refused(client.get(f"/api/tasks/{digits}"), "ref", "beyond")
    refused(client.post(f"/api/tasks/{digits}/trigger"), "ref", "beyond")
    refused(client.get("/api/runs", params={"task": "9" * 30}), "task", "beyond")
    refused(client.get("/api/tasks", params={"limit": digits}), "limit", "integer")
    for number in (digits, str(2**64), str(-(2**63) - 1)):
        body = f'{{"name": "n", "command": "true", "retry_count": {number}}}'.encode()
        response = client.post(
            "/api/tasks", content=body, headers={"Content-Type": "application/json"}
        )
        refused(response, "retry_count", "out of range")
    assert log_head(client) == head
    assert client.get(f"/api/tasks/{task['id']}").json()["priority"] == "normal"
