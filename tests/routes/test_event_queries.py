"""The queryable log in process: filters on the index, forensic views, refused filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from tests.routes.support import Api, ctx, exercises
from tests.routes.test_tasks import create

EVENTS = "/api/events"
LATE = "/api/events/forensics/assigned-after-lost"


def types(answer: dict[str, object]) -> list[str]:
    return [item["type"] for item in answer["items"]]  # type: ignore[attr-defined, index]


@exercises("GET", EVENTS)
def test_a_task_filter_finds_the_tasks_events_and_its_runs_events(api: Api) -> None:
    client = api.client()
    task = create(client)
    other = create(client)
    run_id = client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"]
    client.post(f"/api/tasks/{other['id']}/trigger")
    client.post(f"/api/runs/{run_id}/cancel", json={"reason": "test"})
    api.catch_up()

    answer = client.get(EVENTS, params={"task": task["name"]}).json()

    assert types(answer) == [
        "Task.Created",
        "TaskName.Created",
        "TaskRun.Requested",
        "TaskRun.Cancelled",
    ]
    assert answer["indexed_through"] == answer["head"]
    runs_only = client.get(EVENTS, params={"task": task["uuid"], "type": "TaskRun.Cancelled"})
    assert [i["originator_id"] for i in runs_only.json()["items"]] == [run_id]


@exercises("GET", EVENTS)
def test_a_correlation_id_finds_everything_one_bulk_command_caused(api: Api) -> None:
    client = api.client()
    task = create(client)
    correlation = str(uuid.uuid4())
    body = {"runs": [{"params": {}}] * 3}
    ids = client.post(
        f"/api/tasks/{task['id']}/trigger/batch",
        json=body,
        headers={"X-Correlation-ID": correlation},
    ).json()["run_ids"]
    api.catch_up()

    answer = client.get(EVENTS, params={"correlation_id": correlation}).json()

    assert sorted(i["originator_id"] for i in answer["items"]) == sorted(ids)
    assert {i["correlation_id"] for i in answer["items"]} == {correlation}


@exercises("GET", EVENTS)
def test_actor_prefix_time_window_and_paging_narrow_the_answer(api: Api) -> None:
    client = api.client()
    create(client)
    api.catch_up()
    before = datetime.now(UTC)
    names = [create(client)["name"] for _ in range(3)]
    api.catch_up()

    since = {"since": before.isoformat(), "type": "Task.Created"}
    first = client.get(EVENTS, params={**since, "limit": 2}).json()
    rest = client.get(EVENTS, params={**since, "after": first["next_after"]}).json()
    shown = [i["payload"]["spec"]["name"] for i in first["items"] + rest["items"]]
    assert shown == names
    anonymous = client.get(EVENTS, params={**since, "actor": "anonymous*"}).json()
    nobody = client.get(EVENTS, params={**since, "actor": "nobody*"}).json()
    assert len(anonymous["items"]) == 3 and nobody["items"] == []
    assert nobody["next_after"] == nobody["indexed_through"]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get(EVENTS, params={"since": future}).json()["items"] == []


@exercises("GET", EVENTS)
def test_bad_filters_are_refused_naming_them(api: Api) -> None:
    client = api.client()
    naive = client.get(EVENTS, params={"since": "2026-12-01T10:00:00"})
    assert naive.status_code == 422 and "since" in naive.text
    backwards = client.get(
        EVENTS, params={"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}
    )
    assert backwards.status_code == 422 and "until" in backwards.text
    unknown = client.get(EVENTS, params={"tipe": "Task.Created"})
    assert unknown.status_code == 422 and "tipe" in unknown.text
    assert client.get(EVENTS, params={"task": "no-such-task"}).status_code == 404
    assert client.get(EVENTS, params={"type": ""}).status_code == 422


@exercises("GET", LATE)
def test_a_run_assigned_to_a_worker_after_it_was_lost_is_found(api: Api) -> None:
    client = api.client()
    app, now = api.container.app, datetime.now(UTC)
    worker_id = app.register_worker(
        name=f"w-{uuid.uuid4().hex[:6]}",
        hostname="h",
        executors=["shell"],
        queues=["default"],
        labels={},
        max_concurrent_tasks=2,
        ctx=ctx(),
    ).aggregate_id
    task = create(client)
    before_loss = client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"]
    after_loss = client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"]
    app.assign_runs([(uuid.UUID(before_loss), worker_id)], "dispatcher", now)
    app.recover_workers([(worker_id, [])], 3, "dispatcher", now)
    app.assign_runs([(uuid.UUID(after_loss), worker_id)], "dispatcher", now)
    api.catch_up()

    answer = client.get(LATE, params={"worker_id": str(worker_id)}).json()

    assert [i["run_id"] for i in answer["items"]] == [after_loss]
    assert answer["items"][0]["lost_position"] < answer["items"][0]["position"]
