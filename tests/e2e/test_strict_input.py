"""Strict input over HTTP: nothing is silently accepted, and a refusal stores nothing.

The generic tests walk the served OpenAPI document, so a route or field added later is
covered without a line here: every operation refuses an unknown query parameter, and every
integer or number field of every request body refuses a boolean.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import unique
from tests.e2e.test_bad_input import create, log_head, refused

JSON = {"Content-Type": "application/json"}


def operations(client: httpx.Client) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path with its parameters filled in, operation) of every documented route."""
    document = client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        filled = path.replace("{ref}", "1").replace("{run_id}", "not-a-run")
        filled = filled.replace("{worker_id}", "not-a-worker")
        for method, operation in item.items():
            yield method.upper(), filled, operation


def numeric_fields(document: dict[str, Any], schema: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(dotted field, a body that sets only it to true) for every number in a body schema."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        yield from numeric_fields(document, document["components"]["schemas"][name])
        return
    for choice in schema.get("anyOf", []):
        yield from numeric_fields(document, choice)
    if schema.get("type") in ("integer", "number"):
        yield "", True
    for name, child in schema.get("properties", {}).items():
        for field, value in numeric_fields(document, child):
            yield (f"{name}.{field}" if field else name), {name: value}
    if "items" in schema:
        for field, value in numeric_fields(document, schema["items"]):
            yield (f"0.{field}" if field else "0"), [value]


def test_every_route_refuses_an_unknown_query_parameter(client: httpx.Client) -> None:
    head, checked = log_head(client), 0
    for method, path, _ in operations(client):
        response = client.request(method, path, params={"dry_run": "true"})
        refused(response, "dry_run", "unknown query parameter")
        checked += 1
    assert checked >= 20  # every route of the API, /health and /metrics included
    assert log_head(client) == head


def test_a_dry_run_parameter_does_not_create_a_task(client: httpx.Client) -> None:
    name = unique("dry")
    response = client.post("/api/tasks?dry_run=true", json={"name": name, "command": "true"})
    refused(response, "dry_run", "unknown query parameter")
    assert client.get("/api/tasks", params={"name": name}).json()["total"] == 0


def test_every_number_in_every_request_body_refuses_a_boolean(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    head, checked = log_head(client), []
    for method, path, operation in operations(client):
        content = operation.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        for field, body in numeric_fields(document, schema or {}):
            refused(client.request(method, path, json=body), field, "boolean")
            checked.append(field)
    # Task fields (create and update), http settings, worker and heartbeat bodies, rollback.
    assert {"retry_count", "http.expected_status.0", "max_concurrent_tasks"} <= set(checked)
    assert {"running.0.attempt", "version"} <= set(checked)
    assert log_head(client) == head


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"name": "a", "name": "b", "command": "true"}', "name"),
        (b'{"name": "a", "command": "true", "labels": {"k": "1", "k": "2"}}', "labels.k"),
        (
            b'{"name": "a", "command": "http://x", "executor": "http",'
            b' "http": {"headers": {"X": "1", "X": "2"}}}',
            "http.headers.X",
        ),
    ],
)
def test_duplicate_json_keys_are_a_422_and_nothing_is_stored(
    client: httpx.Client, body: bytes, field: str
) -> None:
    head = log_head(client)
    refused(client.post("/api/tasks", content=body, headers=JSON), field, "duplicate key")
    assert log_head(client) == head


def test_duplicate_keys_in_trigger_and_worker_bodies_are_refused_too(client: httpx.Client) -> None:
    task = create(client).json()
    head = log_head(client)
    trigger = b'{"params": {"DAY": "1", "DAY": "2"}}'
    response = client.post(f"/api/tasks/{task['id']}/trigger", content=trigger, headers=JSON)
    refused(response, "params.DAY", "duplicate key")
    worker = b'{"name": "w", "name": "v"}'
    refused(client.post("/api/workers", content=worker, headers=JSON), "name", "duplicate key")
    assert log_head(client) == head
    assert client.get(f"/api/tasks/{task['id']}/runs").json()["total"] == 0


def test_an_idempotency_key_reused_with_another_body_is_a_422_naming_it(
    client: httpx.Client,
) -> None:
    task = create(client).json()
    url, key = f"/api/tasks/{task['id']}/trigger", {"Idempotency-Key": unique("key")}
    first = client.post(url, json={"params": {"DAY": "1"}}, headers=key)
    assert first.status_code == 202, first.text
    again = client.post(url, json={"params": {"DAY": "1"}}, headers=key)
    assert (again.json()["run_id"], again.json()["created"]) == (first.json()["run_id"], False)
    # The first run goes on (assigned, started...): count what the refusals could add instead
    # of watching the log head, which moves with it.
    requested = requests_of(client, task["uuid"])
    refused(
        client.post(url, json={"params": {"DAY": "2"}}, headers=key),
        "Idempotency-Key",
        key["Idempotency-Key"],
    )
    refused(client.post(url, headers=key), "Idempotency-Key", "different params")
    assert requests_of(client, task["uuid"]) == requested == 1
    assert client.get(f"/api/tasks/{task['id']}/runs").json()["total"] == 1


def requests_of(client: httpx.Client, task_uuid: str) -> int:
    """How many runs of the task the whole log has requested."""
    count, after = 0, 0
    while page := client.get("/api/events", params={"after": after, "limit": 1000}).json()["items"]:
        count += sum(
            1
            for e in page
            if e["type"] == "TaskRun.Requested" and e["payload"].get("task_id") == task_uuid
        )
        after = page[-1]["position"]
    return count


def test_a_streamed_body_over_the_limit_is_a_413(client: httpx.Client) -> None:
    head = log_head(client)

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"name": "streamed", "command": "true", "description": "'
        for _ in range(120):
            yield b"x" * 10_000
        yield b'"}'

    response = client.post("/api/tasks", content=chunks(), headers=JSON)
    assert response.status_code == 413, response.text
    assert "limit of 1048576 bytes" in response.json()["detail"]
    assert log_head(client) == head


def test_a_streamed_body_under_the_limit_is_accepted(client: httpx.Client) -> None:
    name = unique("streamed")

    def chunks() -> Iterator[bytes]:
        yield b'{"name": "' + name.encode() + b'",'
        yield b' "command": "true"}'

    assert client.post("/api/tasks", content=chunks(), headers=JSON).status_code == 201


def test_a_worker_registered_over_http_must_offer_known_executors(client: httpx.Client) -> None:
    before = len(client.get("/api/workers").json())
    head = log_head(client)
    response = client.post("/api/workers", json={"name": "w", "executors": ["shell", "docker"]})
    refused(response, "executors", "unknown executor 'docker'")
    refused(
        client.post("/api/workers", json={"name": "w", "executors": []}), "executors", "at least 1"
    )
    assert log_head(client) == head
    assert len(client.get("/api/workers").json()) == before
