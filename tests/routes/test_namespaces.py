"""Namespaces in process: names per namespace, ?namespace= on lists, keys scoped to them."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest

from tests.routes.support import Api, ctx, exercises, open_api

KEY_TEXT = base64.b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """An API that can seal secrets (a subscription's webhook URL is one)."""
    yield from open_api(
        tmp_path_factory.mktemp("namespaces"), environ={"SCHEDULER_SECRET_KEY": KEY_TEXT}
    )


def _namespace(api: Api, **limits: int | None) -> str:
    name = f"ns-{uuid.uuid4().hex[:8]}"
    made = api.client().post("/api/namespaces", json={"name": name, **limits})
    assert made.status_code == 201, made.text
    return name


def _scoped_key(api: Api, role: str, *namespaces: str) -> str:
    app = api.container.app
    issued = app.create_api_key(f"{role}-{uuid.uuid4().hex[:8]}", role, ctx(), None, namespaces)
    assert api.container.waiter.wait(issued.position, api.container.projection_names, timeout=10)
    api.app.state.key_directory.refresh()
    return issued.secret


def _task(name: str, namespace: str | None = None) -> dict[str, object]:
    body: dict[str, object] = {"name": name, "executor": "http", "command": "http://127.0.0.1:9/"}
    if namespace is not None:
        body["namespace"] = namespace
    return body


@exercises("POST", "/api/namespaces")
@exercises("GET", "/api/namespaces")
@exercises("GET", "/api/namespaces/{name}")
def test_a_namespace_is_created_once_listed_and_read(api: Api) -> None:
    client = api.client()
    name = _namespace(api, max_concurrent_runs=3)

    again = client.post("/api/namespaces", json={"name": name})
    bad = client.post("/api/namespaces", json={"name": "Not_A_Label"})
    listed = client.get("/api/namespaces").json()
    one = client.get(f"/api/namespaces/{name}")

    assert again.status_code == 409
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "name"
    assert listed[0]["name"] == "default" and name in [n["name"] for n in listed]
    assert one.status_code == 200 and one.json()["max_concurrent_runs"] == 3
    assert client.get("/api/namespaces/nowhere-at-all").status_code == 404


@exercises("PATCH", "/api/namespaces/{name}")
def test_limits_change_only_as_sent_and_refuse_booleans(api: Api) -> None:
    client = api.client()
    name = _namespace(api, max_concurrent_runs=3)

    changed = client.patch(f"/api/namespaces/{name}", json={"trigger_rate_per_minute": 60})
    lifted = client.patch(f"/api/namespaces/{name}", json={"max_concurrent_runs": None})
    boolean = client.patch(f"/api/namespaces/{name}", json={"max_concurrent_runs": True})

    assert changed.json()["max_concurrent_runs"] == 3
    assert changed.json()["trigger_rate_per_minute"] == 60
    assert lifted.json()["max_concurrent_runs"] is None
    assert boolean.status_code == 422 and "max_concurrent_runs" in boolean.text
    events = api.container.app.aggregate_events(api.container.app.get_namespace(name).id)
    assert [type(e).__name__ for e in events] == ["Created", "LimitsChanged", "LimitsChanged"]


@exercises("POST", "/api/tasks")
@exercises("GET", "/api/tasks/{ref}")
@exercises("GET", "/api/tasks")
def test_two_namespaces_hold_the_same_task_name(api: Api) -> None:
    client = api.client()
    name, namespace = f"etl-{uuid.uuid4().hex[:6]}", _namespace(api)

    in_default = client.post("/api/tasks", json=_task(name))
    in_other = client.post("/api/tasks", json=_task(name, namespace))
    taken = client.post("/api/tasks", json=_task(name, namespace))
    unknown = client.post("/api/tasks", json=_task(name, "no-such-namespace"))
    bad = client.post("/api/tasks", json=_task(name, "Bad Name"))

    assert in_default.status_code == 201 and in_default.json()["namespace"] == "default"
    assert in_other.status_code == 201 and in_other.json()["namespace"] == namespace
    assert taken.status_code == 409
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "namespace"
    assert bad.status_code == 422 and "namespace" in bad.text
    assert client.get(f"/api/tasks/{name}").json()["uuid"] == in_default.json()["uuid"]
    found = client.get(f"/api/tasks/{name}", params={"namespace": namespace}).json()
    assert found["uuid"] == in_other.json()["uuid"]
    listed = client.get("/api/tasks", params={"namespace": namespace}).json()
    assert [t["name"] for t in listed["items"]] == [name] and listed["total"] == 1
    elsewhere = client.get(
        f"/api/tasks/{in_default.json()['uuid']}", params={"namespace": namespace}
    )
    assert elsewhere.status_code == 404, "?namespace= is a filter on every route, never ignored"
    mismatch = client.post("/api/tasks", json=_task("y"), params={"namespace": namespace})
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "namespace"


@exercises("PATCH", "/api/tasks/{ref}")
def test_a_task_never_changes_namespace(api: Api) -> None:
    client = api.client()
    name, namespace = f"fixed-{uuid.uuid4().hex[:6]}", _namespace(api)
    client.post("/api/tasks", json=_task(name))

    moved = client.patch(f"/api/tasks/{name}", json={"namespace": namespace})
    same = client.patch(f"/api/tasks/{name}", json={"namespace": "default", "description": "x"})

    assert moved.status_code == 422 and moved.json()["errors"][0]["field"] == "namespace"
    assert same.status_code == 200 and same.json()["namespace"] == "default"


@exercises("POST", "/api/tasks/{ref}/trigger")
@exercises("GET", "/api/runs")
@exercises("GET", "/api/runs/{run_id}")
def test_a_scoped_key_sees_and_acts_only_in_its_namespaces(api: Api) -> None:
    admin = api.client()
    name, namespace = f"own-{uuid.uuid4().hex[:6]}", _namespace(api)
    mine = admin.post("/api/tasks", json=_task(name, namespace)).json()
    theirs = admin.post("/api/tasks", json=_task(name)).json()
    their_run = admin.post(f"/api/tasks/{theirs['uuid']}/trigger").json()["run_id"]
    scoped = api.client(_scoped_key(api, "operator", namespace))

    hidden_task = scoped.get(f"/api/tasks/{theirs['uuid']}")
    hidden_by_number = scoped.post(f"/api/tasks/{theirs['id']}/trigger")
    hidden_run = scoped.get(f"/api/runs/{their_run}")
    own = scoped.post(f"/api/tasks/{name}/trigger")  # its one namespace: names resolve there
    api.catch_up()
    runs = scoped.get("/api/runs").json()["items"]
    tasks = scoped.get("/api/tasks").json()["items"]

    assert hidden_task.status_code == 404 and hidden_by_number.status_code == 404
    assert hidden_run.status_code == 404
    assert own.status_code == 202 and own.json()["task_uuid"] == mine["uuid"]
    assert {r["namespace"] for r in runs} == {namespace} and len(runs) == 1
    assert [t["uuid"] for t in tasks] == [mine["uuid"]]
    assert scoped.get("/api/runs", params={"namespace": "default"}).json()["items"] == []


@exercises("POST", "/api/keys")
@exercises("GET", "/api/keys")
def test_a_scoped_key_creates_only_within_its_namespaces(api: Api) -> None:
    namespace = _namespace(api)
    scoped = api.client(_scoped_key(api, "admin", namespace))

    task = scoped.post("/api/tasks", json=_task(f"x-{uuid.uuid4().hex[:6]}"))
    wider = scoped.post("/api/keys", json={"name": f"w-{uuid.uuid4().hex[:6]}", "role": "viewer"})
    narrow = scoped.post(
        "/api/keys",
        json={"name": f"n-{uuid.uuid4().hex[:6]}", "role": "viewer", "namespaces": [namespace]},
    )
    listed = scoped.get("/api/keys").json()

    assert task.status_code == 403 and "'default'" in task.json()["detail"]
    assert wider.status_code == 403 and "'*'" in wider.json()["detail"]
    assert narrow.status_code == 201 and narrow.json()["namespaces"] == [namespace]
    assert listed and all(k["namespaces"] == [namespace] for k in listed)


@exercises("POST", "/api/workers")
@exercises("GET", "/api/workers")
@exercises("GET", "/api/workers/{worker_id}")
def test_workers_serve_namespaces_and_a_scoped_worker_key_registers_only_for_its_own(
    api: Api,
) -> None:
    namespace = _namespace(api)
    worker_key = api.client(_scoped_key(api, "worker", namespace))
    body = {"name": f"w-{uuid.uuid4().hex[:6]}", "executors": ["http"]}

    refused = worker_key.post("/api/workers", json=body)
    made = worker_key.post("/api/workers", json={**body, "namespaces": [namespace]})
    default = api.client().post("/api/workers", json={**body, "name": body["name"] + "-d"})
    api.catch_up()
    listed = api.client().get("/api/workers", params={"namespace": namespace}).json()
    viewer = api.client(_scoped_key(api, "viewer", namespace))

    assert refused.status_code == 403 and "'default'" in refused.json()["detail"]
    assert made.status_code == 201 and made.json()["namespaces"] == [namespace]
    assert [w["id"] for w in listed] == [made.json()["id"]]
    assert viewer.get(f"/api/workers/{default.json()['id']}").status_code == 404
    assert viewer.get(f"/api/workers/{made.json()['id']}").status_code == 200


@exercises("POST", "/api/tasks/{ref}/trigger")
@exercises("POST", "/api/tasks/{ref}/trigger/batch")
def test_a_namespace_trigger_rate_is_a_429_naming_it(api: Api) -> None:
    client = api.client()
    namespace = _namespace(api, trigger_rate_per_minute=3)
    task = client.post("/api/tasks", json=_task("rated", namespace)).json()
    api.catch_up()
    api.container.extras["namespace_rates"].refresh()

    first = [client.post(f"/api/tasks/{task['uuid']}/trigger").status_code for _ in range(3)]
    refused = client.post(f"/api/tasks/{task['uuid']}/trigger")
    batch = client.post(f"/api/tasks/{task['uuid']}/trigger/batch", json={"runs": [{}, {}, {}, {}]})
    elsewhere = client.post(f"/api/tasks/{task['uuid']}/trigger/batch", json={"runs": [{}]})

    assert first == [202, 202, 202]
    assert refused.status_code == 429 and f"namespace {namespace!r}" in refused.json()["detail"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 20
    assert batch.status_code == 429 and "a batch of 4 runs" in batch.json()["detail"]
    assert elsewhere.status_code == 429
    other = client.post("/api/tasks", json=_task(f"free-{uuid.uuid4().hex[:6]}")).json()
    assert client.post(f"/api/tasks/{other['uuid']}/trigger").status_code == 202


@exercises("POST", "/api/subscriptions")
@exercises("GET", "/api/subscriptions")
@exercises("GET", "/api/subscriptions/{subscription_id}")
def test_a_subscription_belongs_to_a_namespace_and_a_scoped_key_needs_one(api: Api) -> None:
    namespace = _namespace(api)
    body = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 20, "event_types": ["TaskRun"]}
    scoped = api.client(_scoped_key(api, "operator", namespace))

    everywhere = scoped.post("/api/subscriptions", json=body)
    own = scoped.post("/api/subscriptions", json={**body, "namespace": namespace})
    other = scoped.post("/api/subscriptions", json={**body, "namespace": "default"})
    global_one = api.client().post("/api/subscriptions", json=body).json()["id"]
    api.catch_up()
    listed = scoped.get("/api/subscriptions").json()

    assert everywhere.status_code == 403 and other.status_code == 403
    assert own.status_code == 201
    assert [s["id"] for s in listed] == [own.json()["id"]]
    assert listed[0]["namespace"] == namespace
    assert scoped.get(f"/api/subscriptions/{global_one}").status_code == 404


@exercises("GET", "/api/events")
@exercises("GET", "/api/system/logs")
def test_a_scoped_key_cannot_read_the_log_of_every_namespace(api: Api) -> None:
    scoped = api.client(_scoped_key(api, "operator", _namespace(api)))

    events = scoped.get("/api/events")
    logs = scoped.get("/api/system/logs")

    assert events.status_code == 403 and "every namespace" in events.json()["detail"]
    assert logs.status_code == 403
    assert api.client().get("/api/events").status_code == 200


# What spans every namespace besides the log: a tenant's admin may not read or change it.
SYSTEM_WIDE = [
    ("GET", "/api/system/stats"),
    ("GET", "/api/system/config"),
    ("GET", "/api/system/quarantine"),
    ("POST", f"/api/system/quarantine/{uuid.uuid4()}/retry"),
    ("GET", "/api/system/projections/runs/rebuild"),
    ("POST", "/api/system/projections/runs/rebuild"),
    ("GET", "/api/system/audit"),
    ("POST", "/api/system/audit/verify"),
    ("GET", "/api/system/archives"),
    ("POST", "/api/system/archives/verify"),
]


def test_a_scoped_admin_key_is_refused_what_spans_every_namespace(api: Api) -> None:
    scoped = api.client(_scoped_key(api, "admin", _namespace(api)))

    answers = {(m, p): scoped.request(m, p) for m, p in SYSTEM_WIDE}

    assert {k: r.status_code for k, r in answers.items()} == {k: 403 for k in SYSTEM_WIDE}
    assert all("every namespace" in r.json()["detail"] for r in answers.values())
    unscoped = api.client()
    assert unscoped.get("/api/system/stats").status_code == 200
    assert unscoped.get("/api/system/config").status_code == 200
    assert scoped.get("/health").status_code in (200, 503), "health stays open to all"


def test_the_web_ui_refuses_a_key_scoped_to_namespaces(api: Api) -> None:
    scoped = api.client(_scoped_key(api, "viewer", _namespace(api)))
    every = api.client(api.key("viewer"))

    refused = scoped.get("/ui/tasks")

    assert refused.status_code == 403 and "every namespace" in refused.text
    assert every.get("/ui/tasks").status_code == 200


def test_a_backfill_of_another_namespaces_task_is_hidden_and_cannot_be_cancelled(
    api: Api,
) -> None:
    admin = api.client()
    body = {"name": f"bf-{uuid.uuid4().hex[:6]}", "command": "true", "schedule": "0 * * * *"}
    theirs = admin.post("/api/tasks", json=body).json()
    window = {
        "from": "2026-01-01T00:00:00+00:00",
        "to": "2026-01-01T02:00:00+00:00",
        "dry_run": False,
    }
    started = admin.post(f"/api/tasks/{theirs['uuid']}/backfill", json=window)
    assert started.status_code == 202, started.text
    backfill_id = started.json()["id"]
    scoped = api.client(_scoped_key(api, "admin", _namespace(api)))

    read = scoped.get(f"/api/backfills/{backfill_id}")
    cancel = scoped.post(f"/api/backfills/{backfill_id}/cancel", json={"reason": "not mine"})
    unknown = scoped.get(f"/api/backfills/{uuid.uuid4()}")

    # Just as one that does not exist: the same 404, naming the backfill.
    assert (read.status_code, cancel.status_code, unknown.status_code) == (404, 404, 404)
    assert "backfill" in read.json()["detail"] and "backfill" in cancel.json()["detail"]
    assert admin.get(f"/api/backfills/{backfill_id}").json()["status"] == "running"
    assert scoped.get("/api/runs", params={"backfill": backfill_id}).json()["items"] == []
