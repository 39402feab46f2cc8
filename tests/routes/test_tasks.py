"""Task routes in process: create, read, change, pause, trigger, and what they refuse."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from adapters.sqlite.scratch import scratch_database
from entrypoints.api import providers
from projections.queries import ReadModel
from tests.routes.support import Api, Caller, exercises

T = "/api/tasks/{ref}"


def create(client: Caller, name: str | None = None, **fields: Any) -> dict[str, Any]:
    body = {"name": name or f"t-{uuid.uuid4().hex[:8]}", "command": "echo hi", **fields}
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


@exercises("POST", "/api/tasks")
def test_creating_a_task_answers_it_from_the_view_with_its_position(api: Api) -> None:
    response = api.client().post("/api/tasks", json={"name": "nightly", "command": "echo hi"})

    assert response.status_code == 201
    task = response.json()
    assert task["name"] == "nightly" and task["status"] == "active" and task["version"] == 1
    assert response.headers["Location"] == f"/api/tasks/{task['uuid']}"
    assert int(response.headers["X-Log-Position"]) >= 1
    assert "X-View-Stale" not in response.headers


@exercises("POST", "/api/tasks")
def test_creating_a_task_with_a_bad_schedule_is_a_422_naming_the_field(api: Api) -> None:
    response = api.client().post(
        "/api/tasks", json={"name": "bad-cron", "command": "true", "schedule": "every day"}
    )

    assert response.status_code == 422
    assert "schedule" in {e["field"] for e in response.json()["errors"]}


@exercises("POST", "/api/tasks")
def test_an_editor_may_not_create_a_shell_task(api: Api) -> None:
    editor = api.client(api.key("editor"))

    response = editor.post("/api/tasks", json={"name": "code", "command": "rm -rf /"})

    assert response.status_code == 403
    assert "edit_code_tasks" in response.json()["detail"]


@exercises("POST", "/api/tasks")
def test_a_dependency_on_an_unknown_task_is_a_422_naming_depends_on(api: Api) -> None:
    response = api.client().post(
        "/api/tasks", json={"name": "child", "command": "true", "depends_on": ["no-such-task"]}
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "depends_on", "message": "no task 'no-such-task'"}
    ]


@exercises("GET", "/api/tasks")
def test_tasks_are_listed_and_filtered_by_name(api: Api) -> None:
    client = api.client()
    task = create(client, f"listed-{uuid.uuid4().hex[:6]}")

    response = client.get("/api/tasks", params={"name": task["name"]})

    assert response.status_code == 200
    assert [t["uuid"] for t in response.json()["items"]] == [task["uuid"]]


@exercises("GET", "/api/tasks")
def test_listing_tasks_by_an_unknown_status_or_beyond_the_head_is_a_422(api: Api) -> None:
    client = api.client()

    assert client.get("/api/tasks", params={"status": "sleeping"}).status_code == 422
    beyond = client.get("/api/tasks", params={"min_position": 10**9})
    assert beyond.status_code == 422 and "beyond the log head" in beyond.json()["detail"]


@exercises("GET", T)
def test_a_task_is_found_by_number_uuid_and_name(api: Api) -> None:
    client = api.client()
    task = create(client)

    for ref in (str(task["id"]), task["uuid"], task["name"]):
        response = client.get(f"/api/tasks/{ref}")
        assert response.status_code == 200, ref
        assert response.json()["uuid"] == task["uuid"]
        assert response.json()["stats"] == {"runs_total": 0, "runs_succeeded": 0, "runs_failed": 0}


@exercises("GET", T)
def test_an_unknown_task_is_a_404_and_an_impossible_number_a_422(api: Api) -> None:
    client = api.client()

    assert client.get("/api/tasks/no-such-task").status_code == 404
    assert client.get(f"/api/tasks/{uuid.uuid4()}").status_code == 404
    huge = client.get("/api/tasks/99999999999")
    assert huge.status_code == 422 and huge.json()["errors"][0]["field"] == "ref"


@exercises("GET", T)
def test_a_task_as_it_was_at_a_version_is_rebuilt_from_its_events(api: Api) -> None:
    client = api.client()
    task = create(client)
    client.patch(f"/api/tasks/{task['uuid']}", json={"command": "echo later"})

    then = client.get(f"/api/tasks/{task['uuid']}", params={"version": 1})
    beyond = client.get(f"/api/tasks/{task['uuid']}", params={"version": 9})
    naive = client.get(f"/api/tasks/{task['uuid']}", params={"as_of": "2020-01-01T00:00:00"})

    assert then.status_code == 200
    assert then.json()["command"] == "echo hi" and then.json()["id"] == task["id"]
    assert beyond.status_code == 422 and beyond.json()["errors"][0]["field"] == "version"
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "as_of"


@exercises("GET", T)
@exercises("POST", f"{T}/pause")
def test_a_task_the_view_lacks_is_answered_from_its_events_marked_stale(
    api: Api, tmp_path: Path
) -> None:
    client = api.client()
    task = create(client)
    empty = scratch_database(tmp_path / "empty.db")  # a tasks view that never saw the task
    api.app.dependency_overrides[providers.get_read_model] = lambda: ReadModel(empty)
    try:
        read = client.get(f"/api/tasks/{task['name']}")
        paused = client.post(f"/api/tasks/{task['uuid']}/pause")
    finally:
        empty.close()

    assert read.status_code == 200 and read.json()["uuid"] == task["uuid"]
    assert read.headers["X-View-Stale"] == "true"
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.headers["X-View-Stale"] == "true"


@exercises("PATCH", T)
def test_a_task_is_changed_in_part_and_read_back(api: Api) -> None:
    client = api.client()
    task = create(client)

    response = client.patch(
        f"/api/tasks/{task['id']}", json={"priority": "high"}, headers={"If-Match": "1"}
    )

    assert response.status_code == 200
    assert response.json()["priority"] == "high" and response.json()["version"] == 2


@exercises("PATCH", T)
def test_a_change_against_an_old_version_is_a_409_and_a_bad_if_match_a_422(api: Api) -> None:
    client = api.client()
    task = create(client)
    client.patch(f"/api/tasks/{task['uuid']}", json={"priority": "low"})

    stale = client.patch(
        f"/api/tasks/{task['uuid']}", json={"priority": "high"}, headers={"If-Match": "1"}
    )
    bad = client.patch(
        f"/api/tasks/{task['uuid']}", json={"priority": "high"}, headers={"If-Match": "one"}
    )
    unknown = client.patch(f"/api/tasks/{task['uuid']}", json={"colour": "red"})

    assert stale.status_code == 409
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "If-Match"
    assert unknown.status_code == 422


@exercises("DELETE", T)
def test_a_deleted_task_frees_its_name_and_a_second_delete_is_a_409(api: Api) -> None:
    client = api.client()
    task = create(client)

    deleted = client.delete(f"/api/tasks/{task['uuid']}", params={"reason": "done"})
    again = client.delete(f"/api/tasks/{task['uuid']}")

    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert again.status_code == 409
    assert client.delete("/api/tasks/never-was").status_code == 404


@exercises("POST", f"{T}/pause")
@exercises("POST", f"{T}/resume")
def test_a_task_is_paused_with_a_reason_and_resumed(api: Api) -> None:
    client = api.client()
    task = create(client)

    paused = client.post(f"/api/tasks/{task['name']}/pause", json={"reason": "maintenance"})
    resumed = client.post(f"/api/tasks/{task['name']}/resume")

    assert paused.status_code == 200
    assert paused.json()["status"] == "paused" and paused.json()["pause_reason"] == "maintenance"
    assert resumed.status_code == 200 and resumed.json()["status"] == "active"


@exercises("POST", f"{T}/pause")
@exercises("POST", f"{T}/resume")
def test_pausing_or_resuming_an_unknown_task_is_a_404_and_a_viewer_gets_403(api: Api) -> None:
    client = api.client()
    task = create(client)
    viewer = api.client(api.key("viewer"))

    assert client.post("/api/tasks/nobody/pause").status_code == 404
    assert client.post("/api/tasks/nobody/resume").status_code == 404
    forbidden = viewer.post(f"/api/tasks/{task['uuid']}/pause")
    assert forbidden.status_code == 403 and "'operate'" in forbidden.json()["detail"]


@exercises("POST", f"{T}/trigger")
def test_a_trigger_requests_a_pending_run_and_a_repeat_key_returns_it(api: Api) -> None:
    client = api.client()
    task = create(client)

    first = client.post(f"/api/tasks/{task['id']}/trigger", headers={"Idempotency-Key": "k1"})
    again = client.post(f"/api/tasks/{task['id']}/trigger", headers={"Idempotency-Key": "k1"})

    assert first.status_code == 202
    run = first.json()
    assert run["status"] == "pending" and run["created"] is True
    assert run["task_id"] == task["id"] and run["task_uuid"] == task["uuid"]
    assert first.headers["Location"] == f"/api/runs/{run['run_id']}"
    assert again.json()["run_id"] == run["run_id"] and again.json()["created"] is False


@exercises("POST", f"{T}/trigger")
def test_triggering_an_unknown_or_deleted_task_is_refused(api: Api) -> None:
    client = api.client()
    task = create(client)
    client.delete(f"/api/tasks/{task['uuid']}")

    assert client.post("/api/tasks/nobody/trigger").status_code == 404
    assert client.post(f"/api/tasks/{task['uuid']}/trigger").status_code == 409
    bad = client.post("/api/tasks/1/trigger", json={"params": {"A": 1}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("params.A")


@exercises("GET", f"{T}/runs")
def test_a_tasks_runs_are_listed_newest_first(api: Api) -> None:
    client = api.client()
    task = create(client)
    runs = [client.post(f"/api/tasks/{task['uuid']}/trigger").json()["run_id"] for _ in range(2)]

    response = client.get(f"/api/tasks/{task['uuid']}/runs")

    assert response.status_code == 200
    assert response.json()["total"] == 2
    assert {r["id"] for r in response.json()["items"]} == set(runs)
    assert client.get("/api/tasks/nobody/runs").status_code == 404


@exercises("GET", f"{T}/history")
def test_a_tasks_history_lists_its_events_with_positions_and_actors(api: Api) -> None:
    client = api.client()
    task = create(client)
    client.post(f"/api/tasks/{task['uuid']}/pause")

    response = client.get(f"/api/tasks/{task['name']}/history")

    assert response.status_code == 200
    events = response.json()
    assert [e["type"] for e in events] == ["Task.Created", "Task.Paused"]
    assert all(e["position"] for e in events) and events[0]["actor"]
    assert client.get("/api/tasks/nobody/history").status_code == 404


@exercises("GET", f"{T}/diff")
def test_a_diff_names_what_changed_between_two_versions(api: Api) -> None:
    client = api.client()
    task = create(client)
    client.patch(f"/api/tasks/{task['uuid']}", json={"command": "echo changed"})

    response = client.get(f"/api/tasks/{task['uuid']}/diff", params={"from": 1})
    beyond = client.get(f"/api/tasks/{task['uuid']}/diff", params={"from": 1, "to": 7})

    assert response.status_code == 200
    assert response.json()["to_version"] == 2
    assert response.json()["changes"]["command"] == {"from": "echo hi", "to": "echo changed"}
    assert beyond.status_code == 422
    assert client.get(f"/api/tasks/{task['uuid']}/diff").status_code == 422  # from is required


@exercises("POST", f"{T}/rollback")
def test_a_rollback_restores_an_old_definition_as_a_new_version(api: Api) -> None:
    client = api.client()
    task = create(client)
    client.patch(f"/api/tasks/{task['uuid']}", json={"command": "echo changed"})

    response = client.post(f"/api/tasks/{task['uuid']}/rollback", json={"version": 1})
    beyond = client.post(f"/api/tasks/{task['uuid']}/rollback", json={"version": 99})

    assert response.status_code == 200
    assert response.json()["command"] == "echo hi" and response.json()["version"] == 3
    assert beyond.status_code in (404, 409, 422) and beyond.status_code != 200
    assert client.post("/api/tasks/nobody/rollback", json={"version": 1}).status_code == 404
