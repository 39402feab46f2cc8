"""Subscription routes in process: create (422 naming the field), read, replay, delete, rights."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from tests.routes.support import Api, exercises, open_api

KEY_TEXT = base64.b64encode(bytes(range(32))).decode()
HOOK = "https://hooks.example.com/services/T000/B000/XXXXSECRETPATH"
SECRET = "s3cret-signing-key-0123456789"


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An API that can seal secrets and knows an SMTP server (never called here)."""
    yield from open_api(
        tmp_path_factory.mktemp("subscriptions"),
        environ={"SCHEDULER_SECRET_KEY": KEY_TEXT, "SCHEDULER_ALERTING__SMTP_HOST": "127.0.0.1"},
    )


def _create(api: Api, **body: object) -> dict[str, object]:
    response = api.client().post("/api/subscriptions", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


@exercises("POST", "/api/subscriptions")
@exercises("GET", "/api/subscriptions/{subscription_id}")
def test_a_webhook_subscription_is_shown_without_its_url_path_or_secret(api: Api) -> None:
    created = _create(api, url=HOOK, secret=SECRET, event_types=["TaskRun.Failed"])

    shown = api.client().get(f"/api/subscriptions/{created['id']}")

    assert shown.status_code == 200
    body = shown.json()
    assert body["destination"] == "https://hooks.example.com/***"
    assert body["event_types"] == ["TaskRun.Failed"] and body["status"] == "active"
    assert body["offset"] >= 0 and body["lag"] >= 0 and body["delivered"] == 0
    assert body["max_attempts"] == 5 and body["dead_lettered"] == 0
    assert "XXXXSECRETPATH" not in shown.text and SECRET not in shown.text
    events = api.client().get("/api/events", params={"limit": 1000})
    assert events.status_code == 200 and "Subscription.Created" in events.text
    assert "XXXXSECRETPATH" not in events.text and SECRET not in events.text


@exercises("POST", "/api/subscriptions")
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"secret": SECRET, "event_types": ["TaskRun.Failed"]}, "url"),
        (
            {"url": HOOK, "email": ["a@example.com"], "secret": SECRET, "event_types": ["Task"]},
            "email",
        ),
        ({"url": "ftp://example.com/x", "secret": SECRET, "event_types": ["Task"]}, "url"),
        ({"url": "not a url", "secret": SECRET, "event_types": ["Task"]}, "url"),
        ({"url": HOOK, "event_types": ["Task"]}, "secret"),
        ({"url": HOOK, "secret": SECRET, "event_types": ["TaskRun.Exploded"]}, "event_types"),
        ({"url": HOOK, "secret": SECRET, "event_types": []}, "event_types"),
        ({"url": HOOK, "secret": SECRET, "event_types": ["Subscription"]}, "event_types"),
        ({"url": HOOK, "secret": SECRET, "event_types": ["Task"], "statuses": ["on"]}, "statuses"),
        ({"url": HOOK, "secret": SECRET, "event_types": ["Task"], "tasks": ["nope"]}, "tasks"),
        (
            {"url": HOOK, "secret": SECRET, "event_types": ["Task"], "failed_in_a_row": 2},
            "failed_in_a_row",
        ),
        ({"email": ["not-an-address"], "event_types": ["TaskRun.Failed"]}, "email"),
        ({"url": HOOK, "secret": "short", "event_types": ["Task"]}, "secret"),
        (
            {"url": HOOK, "secret": SECRET, "event_types": ["Task"], "from_position": 10**12},
            "from_position",
        ),
        ({"url": HOOK, "secret": SECRET, "event_types": ["Task"], "colour": "red"}, "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    response = api.client().post("/api/subscriptions", json=body)

    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@exercises("POST", "/api/subscriptions")
@exercises("GET", "/api/subscriptions")
def test_an_email_subscription_with_a_filter_is_listed(api: Api) -> None:
    client = api.client()
    task = client.post("/api/tasks", json={"name": "nightly-mail", "command": "true"}).json()
    created = _create(
        api,
        email=["ops@example.com"],
        event_types=["TaskRun.Failed", "TaskRun.TimedOut"],
        tasks=["nightly-mail"],
        failed_in_a_row=3,
        max_attempts=2,
    )

    listed = client.get("/api/subscriptions", params={"status": "active"})

    assert listed.status_code == 200
    found = next(s for s in listed.json() if s["id"] == created["id"])
    assert found["target"] == "email" and found["destination"] == "ops@example.com"
    assert found["tasks"] == [task["uuid"]] and found["failed_in_a_row"] == 3
    assert found["max_attempts"] == 2
    assert client.get("/api/subscriptions", params={"status": "paused"}).status_code == 422


@exercises("POST", "/api/subscriptions/{subscription_id}/replay")
def test_a_replay_is_recorded_and_a_position_beyond_the_head_is_refused(api: Api) -> None:
    created = _create(api, url=HOOK, secret=SECRET, event_types=["TaskRun"])
    client = api.client()

    replay = client.post(f"/api/subscriptions/{created['id']}/replay", json={"from_position": 1})
    beyond = client.post(
        f"/api/subscriptions/{created['id']}/replay", json={"from_position": 10**9}
    )

    assert replay.status_code == 202, replay.text
    assert beyond.status_code == 422 and beyond.json()["errors"][0]["field"] == "from_position"
    kinds = [e["type"] for e in client.get("/api/events", params={"limit": 1000}).json()["items"]]
    assert "Subscription.ReplayRequested" in kinds


@exercises("DELETE", "/api/subscriptions/{subscription_id}")
def test_a_deleted_subscription_says_so_and_cannot_be_deleted_twice(api: Api) -> None:
    created = _create(api, url=HOOK, secret=SECRET, event_types=["Task"])
    client = api.client()

    deleted = client.delete(f"/api/subscriptions/{created['id']}")

    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert client.delete(f"/api/subscriptions/{created['id']}").status_code == 409
    assert client.get("/api/subscriptions/not-an-id").status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(f"/api/subscriptions/{missing}").status_code == 404


@exercises("POST", "/api/subscriptions")
@exercises("GET", "/api/subscriptions")
def test_viewers_read_and_operators_create(api: Api) -> None:
    viewer, operator = api.client(api.key("viewer")), api.client(api.key("operator"))
    body = {"url": HOOK, "secret": SECRET, "event_types": ["TaskRun.Failed"]}

    refused = viewer.post("/api/subscriptions", json=body)
    created = operator.post("/api/subscriptions", json=body)

    assert refused.status_code == 403 and "operate" in refused.json()["detail"]
    assert created.status_code == 201
    assert viewer.get("/api/subscriptions").status_code == 200
