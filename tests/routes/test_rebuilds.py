"""Rebuild routes in process: an admin starts a projection's rebuild and follows it to the swap."""

from __future__ import annotations

import time

from projections.status import read_states
from tests.routes.support import Api, exercises

P = "/api/system/projections/{name}/rebuild"


def follow(api: Api, name: str, timeout: float = 20.0) -> dict[str, object]:
    """Poll the rebuild of `name` until it is no longer running; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = api.client().get(P.format(name=name)).json()
        if body["status"] != "running" or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@exercises("POST", P)
@exercises("GET", P)
def test_an_admin_rebuilds_a_projection_and_follows_it_to_the_swap(api: Api) -> None:
    client = api.client()
    for number in range(3):
        assert (
            client.post("/api/tasks", json={"name": f"r{number}", "command": "true"}).status_code
            == 201
        )
    api.catch_up()
    head = api.container.app.head_position()

    started = client.post(P.format(name="tasks"))
    ended = follow(api, "tasks")

    assert started.status_code == 202
    assert started.json()["projection"] == "tasks" and started.json()["actor"]
    assert ended["status"] == "switched" and ended["error"] is None
    assert ended["applied"] == ended["total"] >= head and ended["percent"] == 100.0
    assert ended["position"] >= head  # type: ignore[operator]
    names = {t["name"] for t in client.get("/api/tasks").json()["items"]}
    assert {"r0", "r1", "r2"} <= names  # the rebuilt table serves them
    container = api.container
    projections = [runner.projection for runner in container.runners]
    states = {s.name: s for s in read_states(container.database, container.app, projections)}
    assert states["tasks"].rebuilt_at is not None


@exercises("POST", P)
@exercises("GET", P)
def test_an_unknown_projection_is_a_404_and_one_never_rebuilt_here_too(api: Api) -> None:
    client = api.client()

    assert client.post(P.format(name="nothing")).status_code == 404
    missing = client.get(P.format(name="workers"))

    assert missing.status_code == 404 and "workers" in missing.json()["detail"]


@exercises("POST", P)
def test_only_an_admin_may_rebuild(api: Api) -> None:
    for role in ("viewer", "operator", "editor"):
        refused = api.client(api.key(role)).post(P.format(name="tasks"))
        assert refused.status_code == 403 and "'rebuild'" in refused.json()["detail"]
