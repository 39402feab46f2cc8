"""System routes in process: health, metrics, the event feed, statistics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from adapters.redis_bus import RedisStreamsBus
from entrypoints.api import providers
from projections.dispatcher_status import SqlDispatcherBeacon
from tests.routes.support import Api, exercises

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connection refused


def beat(api: Api) -> None:
    """A dispatcher that beats and completes its rounds, as a running one records."""
    now = datetime.now(UTC)
    SqlDispatcherBeacon(api.container.database).beat(
        "dispatcher:test", now, now, position=0, round_at=now, failed_rounds=0, error=None
    )


@exercises("GET", "/health")
def test_health_is_ok_when_the_store_views_bus_and_a_dispatcher_are(api: Api) -> None:
    beat(api)
    api.catch_up()

    response = api.client().get("/health")

    assert response.status_code == 200, response.json()
    checks = response.json()["checks"]
    assert response.json()["status"] == "ok"
    assert checks["message_queue"] == {"status": "ok", "type": "memory"}
    assert checks["dispatch"]["status"] == "ok"
    assert all(p["status"] == "ok" for p in checks["projections"].values())


@exercises("GET", "/health")
def test_health_is_degraded_when_the_bus_is_unreachable(api: Api) -> None:
    beat(api)
    bus = RedisStreamsBus(UNREACHABLE_REDIS, socket_timeout=1.0)
    api.app.dependency_overrides[providers.get_bus] = lambda: bus
    try:
        response = api.client().get("/health")
    finally:
        bus.close()

    assert response.status_code == 503
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["message_queue"]["status"] == "down"


@exercises("GET", "/metrics")
def test_metrics_are_exported_and_need_a_credential(api: Api) -> None:
    response = api.client().get("/metrics")
    proxied = api.client(**{"X-Forwarded-For": "203.0.113.9"}).get("/metrics")

    assert response.status_code == 200
    assert "scheduler_" in response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert proxied.status_code == 401  # no credential, and not the loopback admin


@exercises("GET", "/api/events")
def test_the_event_feed_pages_by_position(api: Api) -> None:
    client = api.client()
    name = f"e-{uuid.uuid4().hex[:8]}"
    client.post("/api/tasks", json={"name": name, "command": "true"})
    head = api.container.app.head_position()

    first = client.get("/api/events", params={"after": head - 1, "limit": 1})
    past = client.get("/api/events", params={"after": head})

    assert first.status_code == 200
    assert [e["position"] for e in first.json()["items"]] == [head]
    assert first.json()["next_after"] == head and first.json()["head"] == head
    assert past.json()["items"] == [] and past.json()["next_after"] == head
    assert client.get("/api/events", params={"limit": 0}).status_code == 422


@exercises("GET", "/api/system/stats")
def test_stats_count_by_status_with_the_log_head(api: Api) -> None:
    client = api.client()
    client.post("/api/tasks", json={"name": f"s-{uuid.uuid4().hex[:8]}", "command": "true"})

    response = client.get("/api/system/stats")

    assert response.status_code == 200
    assert response.json()["log_head"] == api.container.app.head_position()
    assert response.json()["tasks"]["active"] >= 1
    unknown = client.get("/api/system/stats", params={"verbose": "1"})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "verbose"
