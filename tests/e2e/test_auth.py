"""Authentication end to end: the anonymous attack of issue 10, start-up refusals, keys from
the CLI and over HTTP, revocation across API processes, the metrics token."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.auth_support import bearer, cli, create_key, secure_env, secure_scheduler
from tests.e2e.cluster import Cluster
from tests.e2e.conftest import ANONYMOUS_LOOPBACK, base_env, free_port
from tests.servers import fresh_postgres_database, redis_url, unique_prefix

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = str(ROOT / "config" / "production.toml")
ATTACK = {"name": "pwn", "executor": "shell", "command": "id; head -1 /etc/shadow"}


def wait_for_health(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer /health")


@pytest.fixture
def production_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """`scheduler api` and `projector` with config/production.toml on PostgreSQL and Redis."""
    with fresh_postgres_database() as url:
        cluster = Cluster(workdir=tmp_path, database_url=url, bus_env={})
        cluster.defaults = {
            "POSTGRES_PASSWORD": "unused",  # the file names it; SCHEDULER_DATABASE__URL wins
            "REDIS_URL": redis_url(),
            "SCHEDULER_CONFIG": PRODUCTION,
            "SCHEDULER_MESSAGE_QUEUE__PREFIX": unique_prefix(),
            "SCHEDULER_DATABASE__POOL_SIZE": "2",  # the file's 50 would crowd the shared server
            # An empty override drops base_env's "true": [auth] is the file's and the default's
            # (allow_anonymous_loopback = false), as in a production install.
            ANONYMOUS_LOOPBACK: "",
        }
        try:
            yield cluster
        finally:
            cluster.stop_all()


def test_an_anonymous_shell_task_is_a_401_on_a_production_configured_api(
    production_cluster: Cluster,
) -> None:
    cluster = production_cluster
    for name, command in (("api", "api"), ("projector", "projector")):
        cluster.start(name, command)
        cluster.processes[name].poll()
    wait_for_health(cluster.url)
    with httpx.Client(base_url=cluster.url, timeout=10) as client:
        created = client.post("/api/tasks", json=ATTACK, headers={"X-Actor": "admin"})
        triggered = client.post("/api/tasks/1/trigger")
        listed = client.get("/api/tasks")
        for answer in (created, triggered, listed):
            assert answer.status_code == 401, answer.text
            assert answer.headers["www-authenticate"].startswith('Bearer realm="scheduler"')
        # Nothing was recorded: an admin key, made as a production install makes its first one,
        # sees no task and no task event in the log.
        env = cluster.env("cli")
        admin = create_key(cluster.workdir, env, "admin", "admin")
        deadline = time.monotonic() + 10
        while client.get("/api/tasks", headers=bearer(admin)).status_code != 200:
            assert time.monotonic() < deadline, cluster.logs()
            time.sleep(0.1)
        assert client.get("/api/tasks", headers=bearer(admin)).json()["total"] == 0
        events = client.get("/api/events", headers=bearer(admin)).json()["items"]
        assert [e["type"] for e in events] == ["ApiKey.Created", "ApiKeyName.Created"]
        assert "pwn" not in str(events)


def test_anonymous_callers_on_a_non_loopback_address_refuse_to_start(tmp_path: Path) -> None:
    production = cli(
        "api",
        "--config",
        PRODUCTION,
        cwd=tmp_path,
        env={**base_env(), "POSTGRES_PASSWORD": "pw", ANONYMOUS_LOOPBACK: "true"},
    )
    development = cli(
        "up",
        "--config",
        str(ROOT / "config" / "development.toml"),
        cwd=tmp_path,
        env={**base_env(), "SCHEDULER_API__HOST": "0.0.0.0"},
    )
    for done in (production, development):
        assert done.returncode != 0
        assert "refusing to start: [auth] allow_anonymous_loopback is true" in done.stderr
        assert "'0.0.0.0', which is not a loopback address" in done.stderr
    assert not (tmp_path / "var").exists()  # refused before touching any storage


def test_keys_are_created_listed_and_revoked_with_the_cli_and_over_http(tmp_path: Path) -> None:
    token = "metrics-" + "m" * 30
    with (
        secure_scheduler(tmp_path, SCHEDULER_OBSERVABILITY__METRICS_TOKEN=token) as (proc, admin),
        httpx.Client(base_url=proc.url, timeout=10) as client,
    ):
        env = proc.env
        # A key made with the CLI while the scheduler runs is accepted within seconds.
        ops = create_key(tmp_path, env, "ops", "operator", "--expires-in", "30d")
        started = time.monotonic()
        while client.get("/api/tasks", headers={"X-API-Key": ops}).status_code != 200:
            assert time.monotonic() - started < 5, proc.log_tail()
            time.sleep(0.05)

        # Over HTTP (admin): the key is in the answer once, and usable at once.
        made = client.post(
            "/api/keys",
            json={"name": "dash", "role": "viewer", "expires_in": "1h"},
            headers=bearer(admin),
        )
        assert made.status_code == 201, made.text
        dash = made.json()["key"]
        assert dash.startswith("sk_") and made.headers["cache-control"] == "no-store"
        assert client.get("/api/tasks", headers=bearer(dash)).status_code == 200
        again = client.post(
            "/api/keys", json={"name": "dash", "role": "viewer"}, headers=bearer(admin)
        )
        assert again.status_code == 409 and "dash" in again.json()["detail"]
        refused = client.post(
            "/api/keys", json={"name": "x", "role": "viewer"}, headers=bearer(dash)
        )
        assert refused.status_code == 403 and "manage_keys" in refused.json()["detail"]

        # The list shows no secret and no hash, but who made each key and when it was used.
        listed = client.get("/api/keys", headers=bearer(admin)).json()
        by_name = {k["name"]: k for k in listed}
        assert set(by_name) == {"admin", "ops", "dash"}
        assert by_name["dash"]["created_by"] == "key:admin"
        assert by_name["admin"]["created_by"].startswith("cli:")
        assert by_name["ops"]["expires_at"] is not None and by_name["admin"]["expires_at"] is None
        assert all(secret not in json.dumps(listed) for secret in (admin, ops, dash))
        assert not {"key", "key_hash"} & set(listed[0])
        text = cli("keys", "list", cwd=tmp_path, env=env)
        assert text.returncode == 0 and "ops" in text.stdout and "operator" in text.stdout
        assert all(secret not in text.stdout + text.stderr for secret in (admin, ops, dash))
        deadline = time.monotonic() + 5
        while True:  # last use is written at the next refresh of the key cache (<= 2 s)
            rows = json.loads(cli("keys", "list", "--json", cwd=tmp_path, env=env).stdout)
            if next(r for r in rows if r["name"] == "ops")["last_used_at"]:
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.2)

        # The actor of an event is the key; X-Actor is only an unverified on_behalf_of.
        task = client.post(
            "/api/tasks",
            json={"name": "by-key", "command": "echo hi"},
            headers={**bearer(admin), "X-Actor": "mallory"},
        ).json()
        history = client.get(f"/api/tasks/{task['id']}/history", headers=bearer(dash)).json()
        assert (history[0]["actor"], history[0]["on_behalf_of"]) == ("key:admin", "mallory")

        # Revoked over HTTP and with the CLI: refused within 5 s.
        revoked = client.delete("/api/keys/dash", headers=bearer(admin))
        assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
        assert revoked.json()["revoked_by"] == "key:admin"
        done = cli("keys", "revoke", "ops", cwd=tmp_path, env=env)
        assert done.returncode == 0 and "revoked API key 'ops'" in done.stdout
        for secret in (dash, ops):
            started = time.monotonic()
            while (answer := client.get("/api/tasks", headers=bearer(secret))).status_code != 401:
                assert time.monotonic() - started < 5, "a revoked key is still accepted"
                time.sleep(0.05)
            assert 'error="invalid_token"' in answer.headers["www-authenticate"]
            assert "revoked" in answer.json()["detail"]
        twice = cli("keys", "revoke", "ops", cwd=tmp_path, env=env)
        assert twice.returncode != 0 and "is revoked; cannot revoke it again" in twice.stderr
        unknown = cli("keys", "revoke", "nope", cwd=tmp_path, env=env)
        assert unknown.returncode != 0 and "API key nope not found" in unknown.stderr
        assert client.delete("/api/keys/nope", headers=bearer(admin)).status_code == 404
        key_events = client.get("/api/events", headers=bearer(admin), params={"limit": 1000}).json()
        revocations = [e for e in key_events["items"] if e["type"] == "ApiKey.Revoked"]
        assert [e["actor"].split(":")[0] for e in revocations] == ["key", "cli"]

        # /metrics takes the metrics token, which opens nothing else; denials are counted.
        assert client.get("/metrics").status_code == 401
        metrics = client.get("/metrics", headers=bearer(token))
        assert metrics.status_code == 200
        assert 'scheduler_auth_denied_total{reason="revoked_key"}' in metrics.text
        assert client.get("/api/tasks", headers=bearer(token)).status_code == 401
        bad = client.get("/api/tasks", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
        assert (
            bad.status_code == 401 and 'error="invalid_request"' in bad.headers["www-authenticate"]
        )
        assert client.get("/no/such/path").status_code == 401  # no route enumeration


def test_a_revocation_reaches_a_second_api_process_within_five_seconds(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        cluster = Cluster(workdir=tmp_path, database_url=url, bus_env={})
        cluster.defaults = {ANONYMOUS_LOOPBACK: "false"}
        ports = [free_port(), free_port()]
        try:
            cluster.start("projector", "projector")
            for i, port in enumerate(ports):
                cluster.start(f"api{i}", "api", SCHEDULER_API__PORT=str(port))
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            for api_url in urls:
                wait_for_health(api_url)
            env = secure_env(SCHEDULER_DATABASE__URL=url)
            admin = create_key(tmp_path, env, "admin", "admin")
            victims = {name: create_key(tmp_path, env, name, "viewer") for name in ("v1", "v2")}
            for api_url in urls:
                for secret in (admin, *victims.values()):
                    wait_until_status(api_url, secret, 200, cluster)
            took: dict[str, float] = {}
            answer = httpx.delete(f"{urls[0]}/api/keys/v1", headers=bearer(admin))
            assert answer.status_code == 200, answer.text
            started = time.monotonic()
            wait_until_status(urls[1], victims["v1"], 401, cluster)
            took["http revoke on api0, refused by api1"] = time.monotonic() - started
            done = cli("keys", "revoke", "v2", cwd=tmp_path, env=env)
            assert done.returncode == 0, done.stderr
            started = time.monotonic()
            for api_url in urls:
                wait_until_status(api_url, victims["v2"], 401, cluster)
            took["cli revoke, refused by both"] = time.monotonic() - started
            print(f"revocation seen after: {took}")
            assert all(seconds < 5 for seconds in took.values()), took
        finally:
            cluster.stop_all()


def wait_until_status(url: str, secret: str, wanted: int, cluster: Cluster) -> None:
    deadline = time.monotonic() + 5
    while (status := httpx.get(f"{url}/api/tasks", headers=bearer(secret)).status_code) != wanted:
        assert time.monotonic() < deadline, f"{url}: {status}, not {wanted}\n{cluster.logs()}"
        time.sleep(0.05)
