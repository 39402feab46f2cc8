"""Namespaces across real processes on PostgreSQL and Redis: names, workers, keys, limits.

One cluster for the module (API, projector, dispatcher; workers serving only namespace
"a", only "default", and only "lim" with room for 4 runs): each test creates what it uses.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.cluster import Cluster, redis_cluster, wait_until
from tests.e2e.conftest import FINISHED, SCHEDULER, base_env


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    workdir: Path = tmp_path_factory.mktemp("namespaces")
    with redis_cluster(workdir) as cluster:
        cluster.start_api()
        cluster.start("projector", "projector")
        cluster.start("dispatcher", "dispatcher")
        cluster.start("worker-a", "worker", SCHEDULER_WORKER__NAMESPACES='["a"]')
        cluster.start("worker-default", "worker")
        cluster.start(
            "worker-lim",
            "worker",
            SCHEDULER_WORKER__NAMESPACES='["lim"]',
            SCHEDULER_WORKER__MAX_CONCURRENT_TASKS="4",
        )
        cluster.wait_for_workers(3, timeout=90)  # five processes start on a shared machine
        yield cluster


@pytest.fixture
def client(cluster: Cluster) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=cluster.url, timeout=30) as http:
        yield http


def ensure_namespace(client: httpx.Client, name: str, **limits: int) -> None:
    made = client.post("/api/namespaces", json={"name": name, **limits})
    assert made.status_code in (201, 409), made.text


def finished(client: httpx.Client, run_id: str, timeout: float = 30) -> dict:
    def done() -> bool:
        return client.get(f"/api/runs/{run_id}").json()["status"] in FINISHED

    wait_until(done, timeout, f"run {run_id} did not finish")
    return client.get(f"/api/runs/{run_id}").json()


def worker_name(client: httpx.Client, worker_id: str) -> str:
    return client.get(f"/api/workers/{worker_id}").json()["name"]


def test_the_same_name_in_two_namespaces_and_todays_urls_without_one(client: httpx.Client) -> None:
    ensure_namespace(client, "a")
    name = f"job-{uuid.uuid4().hex[:6]}"
    plain = client.post("/api/tasks", json={"name": name, "command": "echo default"})
    in_a = client.post("/api/tasks", json={"name": name, "namespace": "a", "command": "echo a"})
    assert plain.status_code == 201 and in_a.status_code == 201, in_a.text
    assert plain.json()["uuid"] != in_a.json()["uuid"]

    default_run = client.post(f"/api/tasks/{name}/trigger")  # today's URL: the default one
    a_run = client.post(f"/api/tasks/{name}/trigger", params={"namespace": "a"})
    assert default_run.json()["task_uuid"] == plain.json()["uuid"]
    assert a_run.json()["task_uuid"] == in_a.json()["uuid"]

    done_default = finished(client, default_run.json()["run_id"])
    done_a = finished(client, a_run.json()["run_id"])
    assert (done_default["status"], done_default["namespace"]) == ("succeeded", "default")
    assert (done_a["status"], done_a["namespace"]) == ("succeeded", "a")
    assert done_default["output"].strip() == "default" and done_a["output"].strip() == "a"
    assert worker_name(client, done_default["worker_id"]) == "worker-default"
    assert worker_name(client, done_a["worker_id"]) == "worker-a"
    assert client.get(f"/api/tasks/{plain.json()['id']}").json()["name"] == name  # by number
    listed = client.get("/api/runs", params={"namespace": "a", "task": in_a.json()["uuid"]})
    assert [r["id"] for r in listed.json()["items"]] == [a_run.json()["run_id"]]


def test_a_worker_serving_only_a_never_gets_a_run_of_b(client: httpx.Client) -> None:
    ensure_namespace(client, "b")
    task = client.post(
        "/api/tasks",
        json={"name": f"b-{uuid.uuid4().hex[:6]}", "namespace": "b", "command": "true"},
    ).json()
    run_id = client.post(f"/api/tasks/{task['uuid']}/trigger").json()["run_id"]

    def says_why() -> bool:
        return "namespace 'b'" in (client.get(f"/api/runs/{run_id}").json()["reason"] or "")

    wait_until(says_why, 15, "the run of b never said why it waits")
    time.sleep(2)  # rounds of the dispatcher pass: still nobody may take it
    run = client.get(f"/api/runs/{run_id}").json()
    assert (run["status"], run["worker_id"]) == ("pending", None)
    assert run["reason"].startswith("no_eligible_worker")
    client.post(f"/api/runs/{run_id}/cancel")


def test_a_key_scoped_to_a_cannot_see_or_trigger_bs_task(client: httpx.Client) -> None:
    ensure_namespace(client, "a")
    ensure_namespace(client, "b")
    name = f"secret-{uuid.uuid4().hex[:6]}"
    mine = client.post("/api/tasks", json={"name": name, "namespace": "a", "command": "true"})
    theirs = client.post("/api/tasks", json={"name": name, "namespace": "b", "command": "true"})
    key = client.post(
        "/api/keys",
        json={"name": f"only-a-{uuid.uuid4().hex[:6]}", "role": "admin", "namespaces": ["a"]},
    ).json()["key"]
    scoped = {"Authorization": f"Bearer {key}"}

    def key_works() -> bool:
        return client.get("/api/tasks", headers=scoped).status_code == 200

    wait_until(key_works, 15, "the new key never reached the API")
    hidden = client.get(f"/api/tasks/{theirs.json()['uuid']}", headers=scoped)
    by_name = client.get(f"/api/tasks/{name}", params={"namespace": "b"}, headers=scoped)
    trigger = client.post(f"/api/tasks/{theirs.json()['id']}/trigger", headers=scoped)
    create = client.post(
        "/api/tasks", json={"name": "x", "namespace": "b", "command": "true"}, headers=scoped
    )
    own = client.post(f"/api/tasks/{name}/trigger", headers=scoped)
    listed = client.get("/api/tasks", params={"limit": 500}, headers=scoped).json()["items"]

    assert (hidden.status_code, by_name.status_code, trigger.status_code) == (404, 404, 404)
    assert create.status_code == 403 and "'b'" in create.json()["detail"]
    assert own.status_code == 202 and own.json()["task_uuid"] == mine.json()["uuid"]
    assert listed and {t["namespace"] for t in listed} == {"a"}
    assert theirs.json()["uuid"] not in {t["uuid"] for t in listed}


def test_max_concurrent_runs_holds_runs_and_releases_them(client: httpx.Client) -> None:
    namespace = "lim"  # its worker has room for 4: only the namespace's limit holds runs
    ensure_namespace(client, namespace, max_concurrent_runs=1)
    task = client.post(
        "/api/tasks", json={"name": "slow", "namespace": namespace, "command": "sleep 1.5"}
    ).json()
    runs = [client.post(f"/api/tasks/{task['uuid']}/trigger").json()["run_id"] for _ in range(3)]

    most_out, held_reason = 0, ""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        items = client.get("/api/runs", params={"namespace": namespace}).json()["items"]
        most_out = max(most_out, sum(r["status"] in ("assigned", "running") for r in items))
        held_reason = next(
            (r["reason"] for r in items if "namespace_limit" in (r["reason"] or "")), held_reason
        )
        if len(items) == 3 and all(r["status"] in FINISHED for r in items):
            break
        time.sleep(0.1)
    statuses = [client.get(f"/api/runs/{r}").json()["status"] for r in runs]
    assert statuses == ["succeeded"] * 3
    assert most_out == 1
    assert f"namespace {namespace!r} are out (max_concurrent_runs 1)" in held_reason


def test_a_trigger_rate_gives_429(client: httpx.Client) -> None:
    namespace = f"rate-{uuid.uuid4().hex[:6]}"
    ensure_namespace(client, namespace, trigger_rate_per_minute=2)
    task = client.post(
        "/api/tasks", json={"name": "rated", "namespace": namespace, "command": "true"}
    ).json()
    time.sleep(2.5)  # the API reads the limits at most every 2 s

    answers = [client.post(f"/api/tasks/{task['uuid']}/trigger") for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 429]
    assert namespace in answers[2].json()["detail"]
    assert int(answers[2].headers["Retry-After"]) >= 1


def cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**base_env(), "SCHEDULER_DATABASE__URL": cluster.database_url}
    return subprocess.run(
        [str(SCHEDULER), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_namespaces_and_scoped_keys_from_the_command_line(
    cluster: Cluster, client: httpx.Client
) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"

    made = cli(cluster, "namespaces", "create", name, "--max-concurrent-runs", "3")
    changed = cli(cluster, "namespaces", "set-limits", name, "--trigger-rate-per-minute", "9")
    bad = cli(cluster, "namespaces", "create", "Not_A_Label")
    key = cli(
        cluster, "keys", "create", "--name", f"k-{name}", "--role", "viewer", "--namespace", name
    )

    assert made.returncode == 0, made.stderr
    assert changed.returncode == 0 and "trigger_rate_per_minute 9" in changed.stdout
    assert bad.returncode != 0 and "name" in bad.stderr
    assert key.returncode == 0 and f"namespaces {name}" in key.stdout

    def listed() -> bool:
        rows = json.loads(cli(cluster, "namespaces", "list", "--json").stdout)
        return any(r["name"] == name and r["trigger_rate_per_minute"] == 9 for r in rows)

    wait_until(listed, 15, "the namespace never reached the namespace_limits table")
    shown = client.get(f"/api/namespaces/{name}").json()
    assert (shown["max_concurrent_runs"], shown["trigger_rate_per_minute"]) == (3, 9)
    scoped = {"Authorization": f"Bearer {key.stdout.splitlines()[-1]}"}
    wait_until(
        lambda: client.get("/api/namespaces", headers=scoped).status_code == 200,
        15,
        "the key never reached the API",
    )
    assert [n["name"] for n in client.get("/api/namespaces", headers=scoped).json()] == [name]
