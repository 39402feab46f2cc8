"""THE MATRIX: every route of the served OpenAPI document x every role x every bad credential.

One `scheduler up` with anonymous access off. Each role walks every operation of
/openapi.json with a valid-ish request on resources of its own: the answer must be a 403 where
entrypoints/api/permissions.py denies the role the route's right, and neither 401 nor 403 where
it grants it (404, 409 or 422 mean the request got past authorization). With no credential, a
bad key, a revoked key, an expired JWT or a JWT for another audience, every route is a 401.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from domain.principal import ROLES, Principal
from entrypoints.api.permissions import ROUTE_RIGHTS, Right, has_right
from tests.e2e.auth_support import bearer, secure_scheduler, token

DEAD_URL = "http://127.0.0.1:9/"  # nothing listens: http runs fail at once


@dataclass
class Fixtures:
    """Resources of one role's walk: made by admin, so the walk finds them."""

    http_task: str
    shell_task: str
    run_id: str
    worker_id: str
    spare_key: str
    subscription: str = ""
    names: Iterator[int] = field(default_factory=lambda: iter(range(1_000)))

    def name(self, prefix: str) -> str:
        return f"{prefix}-{next(self.names)}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Call:
    """One request: the path filled in, a body, query parameters; `variant` names it."""

    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    variant: str = ""
    executor: str | None = None  # the task executor an edit_tasks route touches
    needs: Right | None = None  # a right the body asks for beyond the route's (a backfill)


Builder = Callable[[Fixtures], list[Call]]
T = "/api/tasks/{ref}"
S = "/api/subscriptions/{subscription_id}"
SUBSCRIPTION = {
    "url": f"{DEAD_URL}hook",
    "secret": "matrix-signing-secret-0123",
    "event_types": ["TaskRun.Failed"],
}
WINDOW = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T01:00:00Z"}


def _task_body(f: Fixtures, executor: str) -> dict[str, Any]:
    if executor == "http":
        return {"name": f.name("made"), "executor": "http", "command": DEAD_URL}
    return {"name": f.name("made"), "executor": "shell", "command": "echo hi"}


def on_tasks(suffix: str, **kwargs: Any) -> Builder:
    """A call on the http task and one on the shell task (editors may only touch the first)."""
    return lambda f: [
        Call(f"/api/tasks/{ref}{suffix}", variant=ex, executor=ex, **kwargs)
        for ref, ex in ((f.http_task, "http"), (f.shell_task, "shell"))
    ]


BUILDERS: dict[tuple[str, str], Builder] = {
    ("GET", "/health"): lambda f: [Call("/health")],
    ("GET", "/metrics"): lambda f: [Call("/metrics")],
    ("GET", "/api/tasks"): lambda f: [Call("/api/tasks")],
    ("POST", "/api/tasks"): lambda f: [
        Call("/api/tasks", json=_task_body(f, ex), variant=ex, executor=ex)
        for ex in ("http", "shell")
    ],
    ("GET", T): lambda f: [Call(f"/api/tasks/{f.http_task}")],
    ("PATCH", T): on_tasks("", json={"description": "changed"}),
    ("DELETE", T): on_tasks(""),
    ("POST", f"{T}/pause"): lambda f: [Call(f"/api/tasks/{f.http_task}/pause", json={})],
    ("POST", f"{T}/resume"): lambda f: [Call(f"/api/tasks/{f.http_task}/resume")],
    ("POST", f"{T}/trigger"): lambda f: [Call(f"/api/tasks/{f.http_task}/trigger")],
    ("POST", f"{T}/trigger/batch"): lambda f: [
        Call(f"/api/tasks/{f.http_task}/trigger/batch", json={"runs": [{"params": {}}]})
    ],
    ("GET", f"{T}/runs"): lambda f: [Call(f"/api/tasks/{f.http_task}/runs")],
    ("GET", f"{T}/history"): lambda f: [Call(f"/api/tasks/{f.http_task}/history")],
    ("GET", f"{T}/diff"): lambda f: [Call(f"/api/tasks/{f.http_task}/diff", params={"from": 1})],
    ("POST", f"{T}/rollback"): on_tasks("/rollback", json={"version": 1}),
    ("POST", f"{T}/backfill"): lambda f: [
        Call(f"/api/tasks/{f.http_task}/backfill", json={**WINDOW, "dry_run": True}),
        Call(
            f"/api/tasks/{f.http_task}/backfill",
            json={**WINDOW, "dry_run": False},
            variant="execute",
            needs=Right.BACKFILL,
        ),
    ],
    ("POST", f"{T}/preview"): lambda f: [
        Call(f"/api/tasks/{f.http_task}/preview", json={"changes": {"description": "what if"}})
    ],
    ("GET", "/api/backfills/{backfill_id}"): lambda f: [Call(f"/api/backfills/{uuid.uuid4()}")],
    ("POST", "/api/backfills/{backfill_id}/cancel"): lambda f: [
        Call(f"/api/backfills/{uuid.uuid4()}/cancel")
    ],
    ("GET", "/api/runs"): lambda f: [Call("/api/runs")],
    ("GET", "/api/runs/{run_id}"): lambda f: [Call(f"/api/runs/{f.run_id}")],
    ("GET", "/api/runs/{run_id}/events"): lambda f: [Call(f"/api/runs/{f.run_id}/events")],
    ("POST", "/api/runs/{run_id}/cancel"): lambda f: [Call(f"/api/runs/{f.run_id}/cancel")],
    ("GET", "/api/workers"): lambda f: [Call("/api/workers")],
    ("POST", "/api/workers"): lambda f: [
        Call(
            "/api/workers",
            json={"name": f.name("w"), "hostname": "h", "executors": ["http"]},
        )
    ],
    ("GET", "/api/workers/{worker_id}"): lambda f: [Call(f"/api/workers/{f.worker_id}")],
    ("GET", "/api/workers/{worker_id}/history"): lambda f: [
        Call(f"/api/workers/{f.worker_id}/history")
    ],
    ("POST", "/api/workers/{worker_id}/heartbeat"): lambda f: [
        Call(f"/api/workers/{f.worker_id}/heartbeat", json={"running": []})
    ],
    ("POST", "/api/workers/{worker_id}/poll"): lambda f: [
        Call(f"/api/workers/{f.worker_id}/poll", json={"wait_seconds": 0})
    ],
    ("POST", "/api/runs/{run_id}/attempts/{attempt}/report"): lambda f: [
        # Not this worker's attempt: an allowed role gets the 409 of the fence, not a 403.
        Call(
            f"/api/runs/{f.run_id}/attempts/99/report",
            json={"worker_id": f.worker_id, "status": "started"},
        )
    ],
    ("POST", "/api/workers/{worker_id}/drain"): lambda f: [
        Call(f"/api/workers/{f.worker_id}/drain")
    ],
    ("GET", "/api/events"): lambda f: [Call("/api/events", params={"limit": 5})],
    ("GET", "/api/events/forensics/assigned-after-lost"): lambda f: [
        Call("/api/events/forensics/assigned-after-lost")
    ],
    ("GET", "/api/events/stream"): lambda f: [
        Call("/api/events/stream", params={"after": 0, "limit": 1})
    ],
    ("GET", "/api/system/stats"): lambda f: [Call("/api/system/stats")],
    ("GET", "/api/system/quarantine"): lambda f: [Call("/api/system/quarantine")],
    ("GET", "/api/system/config"): lambda f: [Call("/api/system/config")],
    ("GET", "/api/system/audit"): lambda f: [Call("/api/system/audit")],
    ("POST", "/api/system/audit/verify"): lambda f: [
        Call("/api/system/audit/verify", json={"from_position": 1, "to_position": 50})
    ],
    ("GET", "/api/system/archives"): lambda f: [Call("/api/system/archives")],
    ("POST", "/api/system/archives/verify"): lambda f: [Call("/api/system/archives/verify")],
    ("POST", "/api/system/projections/{name}/rebuild"): lambda f: [
        Call("/api/system/projections/run_stats/rebuild")
    ],
    ("GET", "/api/system/projections/{name}/rebuild"): lambda f: [
        Call("/api/system/projections/run_stats/rebuild")
    ],
    ("GET", "/api/system/logs"): lambda f: [Call("/api/system/logs", params={"limit": 5})],
    ("POST", "/api/system/quarantine/{aggregate_id}/{action}"): lambda f: [
        Call(f"/api/system/quarantine/{f.run_id}/retry")
    ],
    ("GET", "/api/keys"): lambda f: [Call("/api/keys")],
    ("POST", "/api/keys"): lambda f: [
        Call("/api/keys", json={"name": f.name("k"), "role": "viewer", "expires_in": "1h"})
    ],
    ("DELETE", "/api/keys/{ref}"): lambda f: [Call(f"/api/keys/{f.spare_key}")],
    ("GET", "/api/namespaces"): lambda f: [Call("/api/namespaces")],
    ("POST", "/api/namespaces"): lambda f: [Call("/api/namespaces", json={"name": f.name("ns")})],
    ("GET", "/api/namespaces/{name}"): lambda f: [Call("/api/namespaces/default")],
    ("PATCH", "/api/namespaces/{name}"): lambda f: [
        Call("/api/namespaces/default", json={"max_concurrent_runs": None})
    ],
    ("GET", "/api/subscriptions"): lambda f: [Call("/api/subscriptions")],
    ("POST", "/api/subscriptions"): lambda f: [Call("/api/subscriptions", json=SUBSCRIPTION)],
    ("GET", S): lambda f: [Call(f"/api/subscriptions/{f.subscription}")],
    ("DELETE", S): lambda f: [Call(f"/api/subscriptions/{f.subscription}")],
    ("POST", f"{S}/replay"): lambda f: [
        Call(f"/api/subscriptions/{f.subscription}/replay", json={"from_position": 1})
    ],
}


@dataclass
class Server:
    client: httpx.Client
    admin: str
    keys: dict[str, str]  # role -> a valid key
    revoked: dict[str, str]  # role -> a revoked key
    operations: list[tuple[str, str]]


def admin_call(server: Server, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    answer = server.client.request(method, path, headers=bearer(server.admin), **kwargs)
    assert answer.status_code < 300, (method, path, answer.status_code, answer.text)
    return answer.json()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with (
        secure_scheduler(tmp_path_factory.mktemp("matrix")) as (proc, admin),
        httpx.Client(base_url=proc.url, timeout=20) as client,
    ):
        document = client.get("/openapi.json").json()
        operations = [(m.upper(), p) for p, item in document["paths"].items() for m in item]
        server = Server(client, admin, {}, {}, operations)
        for role in ROLES:
            made = admin_call(
                server, "POST", "/api/keys", json={"name": f"old-{role}", "role": role}
            )
            admin_call(server, "DELETE", f"/api/keys/old-{role}")
            server.revoked[role] = made["key"]
            if role == "admin":
                server.keys[role] = admin  # made with the CLI before the start
                continue
            made = admin_call(server, "POST", "/api/keys", json={"name": role, "role": role})
            server.keys[role] = made["key"]
        # A revocation reaches this process's key cache within its refresh interval.
        deadline = time.monotonic() + 5
        while client.get("/api/tasks", headers=bearer(server.revoked["admin"])).status_code != 401:
            assert time.monotonic() < deadline, "the revoked admin key is still accepted"
            time.sleep(0.05)
        yield server


def fixtures_for(server: Server, role: str) -> Fixtures:
    f = Fixtures("", "", "", "", "")
    f.http_task = admin_call(server, "POST", "/api/tasks", json=_task_body(f, "http"))["name"]
    f.shell_task = admin_call(server, "POST", "/api/tasks", json=_task_body(f, "shell"))["name"]
    f.run_id = admin_call(server, "POST", f"/api/tasks/{f.http_task}/trigger")["run_id"]
    # The worker is registered by the worker key, so that key may beat for it.
    body = {"name": f.name("w"), "hostname": "h", "executors": ["http"]}
    answer = server.client.post("/api/workers", json=body, headers=bearer(server.keys["worker"]))
    assert answer.status_code == 201, answer.text
    f.worker_id = answer.json()["id"]
    f.spare_key = admin_call(
        server, "POST", "/api/keys", json={"name": f.name(f"spare-{role}"), "role": "viewer"}
    )["name"]
    f.subscription = admin_call(server, "POST", "/api/subscriptions", json=SUBSCRIPTION)["id"]
    return f


def allowed(role: str, method: str, path: str, call: Call) -> bool:
    """What the code's table says: the route's right, and shell/python tasks for edit_tasks."""
    principal = Principal("key", role, role)
    right = ROUTE_RIGHTS[(method, path)]
    if not has_right(principal, right):
        return False
    if call.needs is not None and not has_right(principal, call.needs):
        return False
    if right is Right.EDIT_TASKS and call.executor in ("shell", "python"):
        return has_right(principal, Right.EDIT_CODE_TASKS)
    return True


def walk_order(operation: tuple[str, str]) -> tuple[bool, str, str]:
    method, path = operation
    return (method == "DELETE", path, method)  # deletions last: they end the fixtures


def test_the_matrix_knows_every_route_of_the_openapi_document(server: Server) -> None:
    assert set(server.operations) == set(BUILDERS), "add the new route to BUILDERS"
    assert set(server.operations) == set(ROUTE_RIGHTS)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_the_role_as_the_table_says(server: Server, role: str) -> None:
    f = fixtures_for(server, role)
    wrong: list[str] = []
    for method, path in sorted(server.operations, key=walk_order):
        for call in BUILDERS[(method, path)](f):
            answer = server.client.request(
                method,
                call.path,
                json=call.json,
                params=call.params,
                headers=bearer(server.keys[role]),
            )
            expected = allowed(role, method, path, call)
            got = answer.status_code
            if (expected and got in (401, 403)) or (not expected and got != 403):
                wrong.append(f"{method} {path} {call.variant}: {got} {answer.text[:160]}")
            if got == 403:
                assert "needs the right" in answer.json()["detail"], answer.text
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_refuses_every_bad_credential_of_the_role(server: Server, role: str) -> None:
    f = Fixtures("t", "t", str(uuid.uuid4()), str(uuid.uuid4()), "k")
    bad: dict[str, dict[str, str]] = {
        "revoked key": bearer(server.revoked[role]),
        "revoked key as X-API-Key": {"X-API-Key": server.revoked[role]},
        "expired JWT": bearer(token(role, expires_in=-60)),
        "wrong audience": bearer(token(role, audience="another-service")),
        "bad key": {"X-API-Key": "sk_" + "A" * 43},
        "no credential": {},
    }
    wrong: list[str] = []
    for method, path in server.operations:
        if ROUTE_RIGHTS[(method, path)] is Right.PUBLIC:
            continue
        for call in BUILDERS[(method, path)](f):
            for what, headers in bad.items():
                answer = server.client.request(
                    method, call.path, json=call.json, params=call.params, headers=headers
                )
                challenge = answer.headers.get("www-authenticate", "")
                if answer.status_code != 401 or not challenge.startswith("Bearer"):
                    wrong.append(f"{method} {path} with {what}: {answer.status_code}")
                elif what != "no credential" and 'error="invalid_token"' not in challenge:
                    wrong.append(f"{method} {path} with {what}: challenge {challenge!r}")
    assert not wrong, "\n".join(wrong)


def test_valid_jwts_carry_their_role_and_name_the_actor(server: Server) -> None:
    f = fixtures_for(server, "jwt")
    operator = bearer(token("operator"))
    client = server.client
    assert (
        client.post("/api/tasks", json=_task_body(f, "http"), headers=operator).status_code == 403
    )
    triggered = client.post(f"/api/tasks/{f.http_task}/trigger", headers=operator)
    assert triggered.status_code == 202, triggered.text
    events = client.get(f"/api/runs/{triggered.json()['run_id']}/events", headers=operator).json()
    assert events[0]["actor"] == "jwt:operator-user"
    viewer_list = bearer(token(["viewer", "nonsense"], sub="lister"))
    assert client.get("/api/tasks", headers=viewer_list).status_code == 200
    nobody = client.get("/api/tasks", headers=bearer(token("root")))
    assert nobody.status_code == 401 and "names none of the roles" in nobody.json()["detail"]


def test_spot_checks_of_the_table_stated_independently(server: Server) -> None:
    """The rules of the issue, written out here rather than read from the code's table."""
    f = fixtures_for(server, "spot")
    client, keys = server.client, server.keys

    def status(role: str, method: str, path: str, **kwargs: Any) -> int:
        return client.request(method, path, headers=bearer(keys[role]), **kwargs).status_code

    assert status("viewer", "GET", f"/api/tasks/{f.http_task}") == 200
    assert status("viewer", "POST", f"/api/tasks/{f.http_task}/trigger") == 403
    assert status("worker", "GET", "/api/tasks") == 403
    assert status("operator", "POST", f"/api/tasks/{f.http_task}/pause", json={}) == 200
    assert status("operator", "POST", "/api/tasks", json=_task_body(f, "http")) == 403
    assert status("editor", "POST", "/api/tasks", json=_task_body(f, "http")) == 201
    assert status("editor", "POST", "/api/tasks", json=_task_body(f, "shell")) == 403
    to_shell = {"executor": "shell", "command": "id", "http": None}
    assert status("editor", "PATCH", f"/api/tasks/{f.http_task}", json=to_shell) == 403
    assert status("admin", "POST", "/api/tasks", json=_task_body(f, "shell")) == 201
    for role in ("viewer", "operator", "editor", "worker"):
        assert status(role, "GET", "/api/keys") == 403
    other = client.post(
        "/api/keys", json={"name": f.name("w2"), "role": "worker"}, headers=bearer(server.admin)
    ).json()["key"]
    beat = client.post(f"/api/workers/{f.worker_id}/heartbeat", headers=bearer(other))
    assert beat.status_code == 403 and "registered by key:worker" in beat.json()["detail"]
