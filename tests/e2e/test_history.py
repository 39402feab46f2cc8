"""History and time travel over HTTP: events with positions, past states, diff, rollback."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx

from tests.e2e.conftest import wait_for_run
from tests.e2e.test_runs import create


def test_task_history_lists_every_change_with_who_and_where_and_masks_secrets(
    client: httpx.Client,
) -> None:
    task = create(client, name="audited", env={"DB_PASSWORD": "hunter2", "MODE": "a"})
    headers = {"X-Actor": "alice", "X-Correlation-Id": "5f8f5d43-3c3a-4b5e-9a55-5b0d6f1c2a11"}
    client.patch(f"/api/tasks/{task['id']}", json={"priority": "high"}, headers=headers)
    client.post(f"/api/tasks/{task['id']}/pause", json={"reason": "maint"})
    history = client.get(f"/api/tasks/{task['name']}/history").json()
    assert [e["type"] for e in history] == ["Task.Created", "Task.Updated", "Task.Paused"]
    assert [e["version"] for e in history] == [1, 2, 3]
    positions = [e["position"] for e in history]
    assert all(isinstance(p, int) for p in positions) and positions == sorted(positions)
    # The actor is who authenticated; X-Actor is kept only as the unverified on_behalf_of.
    assert (history[1]["actor"], history[1]["on_behalf_of"]) == ("anonymous@loopback", "alice")
    assert history[1]["correlation_id"] == headers["X-Correlation-Id"]
    assert history[0]["payload"]["spec"]["env"] == {"DB_PASSWORD": "***", "MODE": "a"}
    created = client.get("/api/events", params={"after": positions[0] - 1, "limit": 1}).json()
    assert created["items"][0]["payload"]["spec"]["env"]["DB_PASSWORD"] == "***"
    assert "hunter2" not in str(created)


def test_a_task_as_of_a_time_or_version_is_rebuilt_from_its_events(client: httpx.Client) -> None:
    task = create(client, name="travel", command="echo one")
    time.sleep(0.05)
    between = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    client.patch(f"/api/tasks/{task['id']}", json={"command": "echo two"})
    client.patch(f"/api/tasks/{task['id']}", json={"command": "echo three", "priority": "low"})
    assert client.get(f"/api/tasks/{task['id']}", params={"version": 2}).json()["command"] == (
        "echo two"
    )
    then = client.get(f"/api/tasks/{task['id']}", params={"as_of": between}).json()
    assert (then["command"], then["version"], then["id"]) == ("echo one", 1, task["id"])
    assert client.get(f"/api/tasks/{task['id']}").json()["command"] == "echo three"
    too_far = client.get(f"/api/tasks/{task['id']}", params={"version": 9})
    assert too_far.status_code == 422 and "versions 1 to 3" in too_far.json()["detail"]
    naive = client.get(f"/api/tasks/{task['id']}", params={"as_of": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "offset" in naive.json()["detail"]
    before = client.get(f"/api/tasks/{task['id']}", params={"as_of": "2000-01-01T00:00:00Z"})
    assert before.status_code == 404


def test_diff_and_rollback_restore_an_old_definition_as_a_new_update(client: httpx.Client) -> None:
    task = create(client, name="roll", command="echo v1", priority="normal")
    client.patch(f"/api/tasks/{task['id']}", json={"command": "echo v2", "priority": "high"})
    diff = client.get(f"/api/tasks/{task['id']}/diff", params={"from": 1, "to": 2}).json()
    assert diff["changes"] == {
        "command": {"from": "echo v1", "to": "echo v2"},
        "priority": {"from": "normal", "to": "high"},
    }
    rolled = client.post(
        f"/api/tasks/{task['id']}/rollback", json={"version": 1}, headers={"X-Actor": "bob"}
    )
    assert rolled.status_code == 200, rolled.text
    body = rolled.json()
    assert (body["command"], body["priority"], body["version"]) == ("echo v1", "normal", 3)
    last = client.get(f"/api/tasks/{task['id']}/history").json()[-1]
    assert (last["type"], last["actor"], last["on_behalf_of"]) == (
        "Task.Updated",
        "anonymous@loopback",
        "bob",
    )
    bad = client.post(f"/api/tasks/{task['id']}/rollback", json={"version": 7})
    assert bad.status_code == 422


def test_a_run_as_of_an_earlier_version_shows_its_state_then(client: httpx.Client) -> None:
    task = create(client, name="run-travel")
    run_id = client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"]
    assert wait_for_run(client, run_id)["status"] == "succeeded"
    events = client.get(f"/api/runs/{run_id}/events").json()
    assert all(isinstance(e["position"], int) for e in events)
    first = client.get(f"/api/runs/{run_id}", params={"version": 1}).json()
    assert (first["status"], first["attempts"], first["task_id"]) == ("pending", [], task["id"])
    second = client.get(f"/api/runs/{run_id}", params={"version": 2}).json()
    assert second["status"] == "assigned" and len(second["attempts"]) == 1
    worker = second["worker_id"]
    assert client.get(f"/api/workers/{worker}/history").json()[0]["type"] == "Worker.Registered"
    assert client.get(f"/api/workers/{worker}", params={"version": 1}).json()["status"] == (
        "active"
    )


def test_the_diff_masks_secret_values_too(client: httpx.Client) -> None:
    task = create(client, name="secret-diff", env={"API_TOKEN": "t0p"})
    client.patch(f"/api/tasks/{task['id']}", json={"env": {"API_TOKEN": "n3w", "MODE": "x"}})
    diff = client.get(f"/api/tasks/{task['id']}/diff", params={"from": 1}).json()
    assert diff["changes"]["env"] == {
        "from": {"API_TOKEN": "***"},
        "to": {"API_TOKEN": "***", "MODE": "x"},
    }
