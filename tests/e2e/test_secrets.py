"""Secrets never leak: `hunter2` and `tok123`, given as env, headers and params, on no surface.

A real `scheduler up` (SQLite, then PostgreSQL) runs a shell task that prints its secrets and
an http task whose target echoes what it received. Then every GET route of the OpenAPI
document, every command answer, /metrics, the process log, `scheduler replay`, `scheduler
events tail` and the errors of bad requests are read, and the raw event rows too: neither
value appears anywhere, while the task's own output file and the http target prove that the
worker got them in plain text.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.cluster import redis_cluster
from tests.e2e.conftest import SCHEDULER, SchedulerProcess, running_scheduler, wait_for_run
from tests.servers import fresh_postgres_database

SECRETS = ("hunter2", "tok123")
# The path parameters this test knows how to fill.
PATH_VALUES = {"ref", "run_id", "worker_id", "backfill_id", "name", "subscription_id"}


class Echo(BaseHTTPRequestHandler):
    """An http task's target: remembers what it got and answers with it."""

    received: list[dict[str, str]] = []  # noqa: RUF012 (one server per test)

    def do_GET(self) -> None:
        seen = {"path": self.path, "authorization": self.headers.get("Authorization", "")}
        Echo.received.append(seen)
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@contextmanager
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    Echo.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


class Surfaces:
    """Everything a user or operator can read, collected as text."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def response(self, name: str, response: httpx.Response) -> httpx.Response:
        self.add(f"{name} -> {response.status_code}", response.text + str(response.headers))
        return response

    def leaks(self) -> list[str]:
        return [f"{s} in {n}" for n, text in self.texts.items() for s in SECRETS if s in text]


def scheduler_cli(proc: SchedulerProcess, *args: str) -> str:
    done = subprocess.run(
        [str(SCHEDULER), *args],
        cwd=proc.workdir,
        env=proc.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def exercise(proc: SchedulerProcess, workdir: Path) -> tuple[Surfaces, dict[str, Any]]:
    """Create, run, change and break things with secrets; return every surface read after."""
    seen = Surfaces()
    printed = workdir / "printed.txt"
    with httpx.Client(base_url=proc.url, timeout=20) as client, echo_server() as hook:
        shell = seen.response(
            "create shell",
            client.post(
                "/api/tasks",
                json={
                    "name": "prints-secrets",
                    "command": f'echo "$DB_PASSWORD $X $LISTED $API_TOKEN" | tee {printed}; '
                    'echo "token=$API_TOKEN pw=$DB_PASSWORD"',
                    "env": {
                        "DB_PASSWORD": "hunter2",
                        "X": {"secret": "hunter2"},
                        "LISTED": "hunter2",
                        "MODE": "plain",
                    },
                    "secret_env": ["LISTED"],
                },
            ),
        )
        assert shell.status_code == 201, shell.text
        http = seen.response(
            "create http",
            client.post(
                "/api/tasks",
                json={
                    "name": "sends-secrets",
                    "executor": "http",
                    "command": hook,
                    "http": {"headers": {"Authorization": "Bearer tok123", "Accept": "*/*"}},
                },
            ),
        )
        assert http.status_code == 201, http.text
        runs = [
            seen.response(
                f"trigger {ref}",
                client.post(f"/api/tasks/{ref}/trigger", json={"params": {"API_TOKEN": "tok123"}}),
            ).json()["run_id"]
            for ref in ("prints-secrets", "sends-secrets")
        ]
        finished = [wait_for_run(client, run_id) for run_id in runs]
        assert [r["status"] for r in finished] == ["succeeded", "succeeded"], finished
        moment = datetime.now(UTC).isoformat()
        # A read-modify-write round trip: *** keeps each secret; MODE changes.
        current = client.get("/api/tasks/prints-secrets").json()
        seen.response(
            "patch round trip",
            client.patch(
                "/api/tasks/prints-secrets", json={"env": {**current["env"], "MODE": "changed"}}
            ),
        )
        seen.response(
            "patch secret",
            client.patch(
                "/api/tasks/sends-secrets",
                json={"http": {"headers": {"Authorization": {"secret": "Bearer tok123!"}}}},
            ),
        )
        again = seen.response(
            "trigger again",
            client.post(
                "/api/tasks/prints-secrets/trigger",
                json={"params": {"API_TOKEN": {"secret": "tok123"}}},
                headers={"Idempotency-Key": "k1"},
            ),
        ).json()["run_id"]
        assert wait_for_run(client, again)["status"] == "succeeded"
        seen.response(
            "idempotent repeat",
            client.post(
                "/api/tasks/prints-secrets/trigger",
                json={"params": {"API_TOKEN": "tok123"}},
                headers={"Idempotency-Key": "k1"},
            ),
        )
        bad_requests(client, seen)
        worker_id = client.get("/api/workers").json()[0]["id"]
        hourly = {"name": "backfilled", "command": "true", "schedule": "0 * * * *"}
        assert client.post("/api/tasks", json=hourly).status_code == 201
        window = {"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:30:00Z", "dry_run": False}
        backfill = seen.response(
            "backfill", client.post("/api/tasks/backfilled/backfill", json=window)
        ).json()
        seen.response(
            "what-if with a secret",
            client.post(
                "/api/tasks/prints-secrets/preview",
                json={"changes": {"env": {"DB_PASSWORD": "hunter2"}, "schedule": "0 * * * *"}},
            ),
        )
        ids = {
            "ref": "prints-secrets",
            "run_id": runs[0],
            "worker_id": worker_id,
            "backfill_id": backfill["id"],
            "name": "run_stats",  # a projection whose rebuild was started above
        }
        subscription = seen.response(
            "subscription",
            client.post(
                "/api/subscriptions",
                json={
                    "url": "http://127.0.0.1:9/hook?token=hunter2",
                    "secret": "hunter2-hunter2-hunter2",
                    "event_types": ["TaskRun.Failed"],
                },
            ),
        )
        assert subscription.status_code == 201, subscription.text
        ids["subscription_id"] = subscription.json()["id"]
        started = client.post("/api/system/projections/run_stats/rebuild")
        seen.response("rebuild", started)
        every_get_route(client, seen, ids, moment)
        seen.response("http task", client.get("/api/tasks/sends-secrets"))
        seen.response("http run", client.get(f"/api/runs/{runs[1]}"))
        seen.response("http diff", client.get("/api/tasks/sends-secrets/diff", params={"from": 1}))
        seen.response("http events", client.get(f"/api/runs/{runs[1]}/events"))
        proof = {
            "printed": printed.read_text(),
            "hook": list(Echo.received),
            "shell run": finished[0],
            "http run": finished[1],
            "diff": client.get("/api/tasks/prints-secrets/diff", params={"from": 1}).json(),
            "http diff": client.get("/api/tasks/sends-secrets/diff", params={"from": 1}).json(),
            "task": client.get("/api/tasks/prints-secrets").json(),
        }
    for kind, ref in (("task", "prints-secrets"), ("task", "sends-secrets"), ("run", runs[0])):
        seen.add(f"replay {kind} {ref}", scheduler_cli(proc, "replay", kind, ref))
        seen.add(f"replay {kind} {ref} --json", scheduler_cli(proc, "replay", kind, ref, "--json"))
    seen.add("events tail", scheduler_cli(proc, "events", "tail", "--last", "10000"))
    seen.add("config show", scheduler_cli(proc, "config", "show"))
    return seen, proof


def bad_requests(client: httpx.Client, seen: Surfaces) -> None:
    """Requests that fail while carrying secrets: their errors must not echo them."""
    refused = [
        client.post(
            "/api/tasks",
            json={
                "name": "bad",
                "command": "true",
                "priority": 5,
                "env": {"DB_PASSWORD": "hunter2"},
            },
        ),
        client.post(
            "/api/tasks", json={"name": "bad", "command": "true", "env": {"X": ["hunter2"]}}
        ),
        client.post(
            "/api/tasks",
            json={"name": "bad", "command": "true", "env": {"X": {"secret": "hunter2", "y": 1}}},
        ),
        client.post(
            "/api/tasks",
            json={"name": "bad", "command": "true", "env": {"X": {"enc": "v1:abc:hunter2"}}},
        ),
        client.post(
            "/api/tasks",
            json={"name": "bad", "command": "true", "env": {"DB_PASSWORD": "hunter2\u0000"}},
        ),
        client.post(
            "/api/tasks",
            content='{"name": "bad", "command": "true", "env": {"X": "hunter2"}, "env": {}}',
            headers={"Content-Type": "application/json"},
        ),
        client.post(
            "/api/tasks",
            content='{"name": "bad", "env": {"X": "hunter2"',
            headers={"Content-Type": "application/json"},
        ),
        client.post("/api/tasks/prints-secrets/trigger", json={"params": {"API_TOKEN": 123456}}),
        client.post(
            "/api/tasks/prints-secrets/trigger",
            json={"params": {"API_TOKEN": "tok123", "X": ["tok123"]}},
        ),
        client.post("/api/tasks/no-such-task/trigger", json={"params": {"API_TOKEN": "tok123"}}),
        client.post(
            "/api/tasks/prints-secrets/trigger",
            json={"params": {"API_TOKEN": "tok1234"}},
            headers={"Idempotency-Key": "k1"},
        ),
        client.patch("/api/tasks/prints-secrets", json={"env": {"DB_PASSWORD": {"secret": 7}}}),
        client.get("/api/tasks", params={"token": "tok123"}),
        client.post(
            "/api/tasks",
            json={"name": "bad", "executor": "http", "command": "https://u:hunter2@example.com/"},
        ),
    ]
    for number, response in enumerate(refused):
        assert response.status_code in (404, 409, 422), (number, response.text)
        seen.response(f"bad request {number}", response)


def every_get_route(client: httpx.Client, seen: Surfaces, ids: dict[str, str], moment: str) -> None:
    """Each GET route of the OpenAPI document, filled with this test's ids (and versions)."""
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        if "get" not in operations or path == "/openapi.json":
            continue
        names = {p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "path"}
        assert names <= PATH_VALUES, f"{path}: fill {names - PATH_VALUES} in this test"
        # `name` is a projection's in /api/system/projections/…, a namespace's in /api/namespaces/….
        given = {**ids, "name": "default"} if path.startswith("/api/namespaces/") else ids
        url = path.format(**{name: given[name] for name in names})
        parameters = operations["get"].get("parameters", [])
        queries = {p["name"] for p in parameters}
        required = any(p["in"] == "query" and p.get("required") for p in parameters)
        variants: list[dict[str, Any]] = [] if required else [{}]
        if "version" in queries:
            variants += [{"version": 1}, {"as_of": moment}]
        if "from" in queries:
            variants += [{"from": 1}, {"from": 1, "to": 2}]
        if "limit" in queries:
            variants.append({"limit": 500})
        if path == "/api/events/stream":
            # A stream ends only after `limit` events: ask for exactly those in the log.
            logged = len(client.get("/api/events", params={"limit": 1000}).json()["items"])
            variants = [{"after": 0, "limit": logged}]
        for params in variants:
            response = seen.response(f"GET {url} {params}", client.get(url, params=params))
            assert response.status_code == 200, (url, params, response.text)
    seen.response("events page", client.get("/api/events", params={"limit": 1000}))


def assert_nothing_leaked(seen: Surfaces, proc: SchedulerProcess, proof: dict[str, Any]) -> None:
    seen.add("process log", (proc.workdir / "scheduler.log").read_text(errors="replace"))
    assert seen.leaks() == []
    # The worker got every secret in plain text: the task wrote them, the target received them.
    assert proof["printed"] == "hunter2 hunter2 hunter2 tok123\n"
    assert proof["hook"][0]["authorization"] == "Bearer tok123"
    assert proof["hook"][0]["path"] == "/hook?API_TOKEN=tok123"
    # What the task printed is kept, masked.
    assert proof["shell run"]["output"] == "*** *** *** ***\ntoken=*** pw=***\n"
    assert proof["http run"]["output"] == (
        'HTTP 200\n{"path": "/hook?API_TOKEN=***", "authorization": "***"}'
    )
    assert proof["shell run"]["params"] == {"API_TOKEN": "***"}
    assert proof["task"]["env"] == {
        "DB_PASSWORD": "***",
        "X": "***",
        "LISTED": "***",
        "MODE": "changed",
    }
    # The diff names what changed, the round trip kept each secret, the new header changed.
    assert proof["diff"]["changes"]["env"]["to"]["MODE"] == "changed"
    assert set(proof["http diff"]["changes"]) == {"http"}


def rows_hold_no_secret(rows: list[bytes | str]) -> None:
    assert rows
    for row in rows:
        raw = row if isinstance(row, bytes) else row.encode()
        assert b"hunter2" not in raw and b"tok123" not in raw


def test_no_secret_appears_on_any_surface_on_sqlite(tmp_path: Path) -> None:
    with running_scheduler(tmp_path) as proc:
        seen, proof = exercise(proc, tmp_path)
        assert_nothing_leaked(seen, proc, proof)
    database = tmp_path / "var" / "scheduler.db"
    with sqlite3.connect(database) as connection:
        rows = [r[0] for r in connection.execute("SELECT state FROM stored_events")]
        assert b'"enc": "v1:' in b"".join(rows) or b'"enc":"v1:' in b"".join(rows)
        rows_hold_no_secret(rows)
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master")]
    assert "tasks" in tables
    # Not only the events: no page of the database file holds them either.
    for path in database.parent.glob("scheduler.db*"):
        rows_hold_no_secret([path.read_bytes()])


@pytest.mark.postgres
def test_no_secret_appears_on_any_surface_on_postgresql(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        with running_scheduler(tmp_path, {"SCHEDULER_DATABASE__URL": url}) as proc:
            seen, proof = exercise(proc, tmp_path)
            assert_nothing_leaked(seen, proc, proof)
        with psycopg.connect(url) as connection:
            events = [r[0] for r in connection.execute("SELECT state FROM scheduler_events")]
            rows_hold_no_secret(events)
            views = connection.execute(
                "SELECT spec::text FROM tasks UNION ALL SELECT params::text FROM runs "
                "UNION ALL SELECT COALESCE(output, '') FROM runs"
            ).fetchall()
            rows_hold_no_secret([r[0] for r in views])


def test_no_secret_appears_in_any_log_of_separate_processes_on_redis(tmp_path: Path) -> None:
    debug = {"SCHEDULER_OBSERVABILITY__LOG_LEVEL": "debug"}
    with redis_cluster(tmp_path) as cluster:
        cluster.defaults.update(debug)
        cluster.start_api()
        cluster.start("projector", "projector")
        cluster.start("dispatcher0", "dispatcher")
        # A worker needs no key: the dispatcher opens the secrets for its delivery.
        cluster.start("worker0", "worker", SCHEDULER_SECRET_KEY="")
        cluster.wait_for_workers(1)
        printed = tmp_path / "printed.txt"
        with httpx.Client(base_url=cluster.url, timeout=20) as client:
            created = client.post(
                "/api/tasks",
                json={
                    "name": "distributed-secrets",
                    "command": f'echo "$DB_PASSWORD $API_TOKEN" | tee {printed}; exit 3',
                    "env": {"DB_PASSWORD": {"secret": "hunter2"}},
                },
            )
            assert created.status_code == 201, created.text
            run_id = client.post(
                "/api/tasks/distributed-secrets/trigger",
                json={"params": {"API_TOKEN": "tok123"}},
            ).json()["run_id"]
            run = wait_for_run(client, run_id, timeout=30)
        cluster.stop_all()
        assert printed.read_text() == "hunter2 tok123\n"
        assert run["status"] == "failed" and run["output"] == "*** ***\n", run
        logs = {name: (tmp_path / f"{name}.log").read_text() for name in cluster.processes}
        assert "DEBUG" in logs["api"]  # the logs were written at their most detailed
        assert [(n, s) for n, text in logs.items() for s in SECRETS if s in text] == []
