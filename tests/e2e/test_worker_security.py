"""A real worker's tasks: never root unless configured, no worker settings in their env."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import running_scheduler, unique, wait_for_run

pytestmark = pytest.mark.e2e
needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="only a worker started as root can switch users (CI is root)"
)
SENTINEL = "hunter2-worker-only"


def run_shell(client: httpx.Client, command: str) -> dict:
    name = unique("sec")
    assert client.post("/api/tasks", json={"name": name, "command": command}).status_code == 201
    run_id = client.post(f"/api/tasks/{name}/trigger").json()["run_id"]
    return wait_for_run(client, run_id)


@needs_root
def test_a_task_of_a_worker_configured_with_run_as_user_does_not_run_as_root(
    tmp_path: Path,
) -> None:
    with (
        running_scheduler(tmp_path, {"SCHEDULER_WORKER__RUN_AS_USER": "nobody"}) as proc,
        httpx.Client(base_url=proc.url, timeout=10) as client,
    ):
        run = run_shell(client, "id -u; id -g; head -1 /etc/shadow || true")
    assert run["status"] == "succeeded", run
    uid, gid, *_shadow = run["output"].split("\n")
    assert uid == "65534" and uid != "0" and gid != "0"
    assert "Permission denied" in run["output"], "the shadow file stays closed"


@needs_root
def test_a_root_worker_without_run_as_user_runs_tasks_as_nobody_and_says_so(
    tmp_path: Path,
) -> None:
    # An empty override restores the default (unset), which base_env() sets explicitly.
    with (
        running_scheduler(tmp_path, {"SCHEDULER_WORKER__RUN_AS_USER": ""}) as proc,
        httpx.Client(base_url=proc.url, timeout=10) as client,
    ):
        run = run_shell(client, "id -u")
        log = proc.log_tail(200)
    assert run["output"].strip() == "65534", run
    assert "the worker runs as root: tasks run as nobody (uid 65534)" in log


def test_the_childs_environment_holds_none_of_the_workers_settings_or_credentials(
    tmp_path: Path,
) -> None:
    worker_env = {
        "SCHEDULER_DATABASE__URL": f"sqlite:///./var/{SENTINEL}.db",
        "SCHEDULER_MESSAGE_QUEUE__PASSWORD": SENTINEL,
        # A real key (32 bytes) holding the sentinel: it must not reach the child either.
        "SCHEDULER_SECRET_KEY": base64.b64encode(SENTINEL.encode().ljust(32, b"!")[:32]).decode(),
        "REDIS_URL": f"redis://:{SENTINEL}@127.0.0.1:6379/0",
        "DATABASE_URL": f"postgresql://app:{SENTINEL}@db/app",
        "AWS_SECRET_ACCESS_KEY": SENTINEL,
    }
    with (
        running_scheduler(tmp_path, worker_env) as proc,
        httpx.Client(base_url=proc.url, timeout=10) as client,
    ):
        run = run_shell(client, "env")
    assert run["status"] == "succeeded", run
    names = {line.split("=", 1)[0] for line in run["output"].splitlines() if "=" in line}
    assert SENTINEL not in run["output"]
    assert worker_env["SCHEDULER_SECRET_KEY"] not in run["output"]
    assert not {n for n in names if n.startswith("SCHEDULER_")} - {
        "SCHEDULER_RUN_ID",
        "SCHEDULER_ATTEMPT",
    }, names
    assert not {"REDIS_URL", "DATABASE_URL", "AWS_SECRET_ACCESS_KEY"} & names
    assert not [line for line in run["output"].splitlines() if "://" in line]


def test_a_worker_offers_only_its_allowed_executors(tmp_path: Path) -> None:
    with (
        running_scheduler(tmp_path, {"SCHEDULER_WORKER__ALLOWED_EXECUTORS": '["http"]'}) as proc,
        httpx.Client(base_url=proc.url, timeout=10) as client,
    ):
        workers = client.get("/api/workers").json()
        name = unique("refused")
        client.post("/api/tasks", json={"name": name, "command": "id"})
        run_id = client.post(f"/api/tasks/{name}/trigger").json()["run_id"]
        run = client.get(f"/api/runs/{run_id}", params={"min_position": 0}).json()
    assert [w["executors"] for w in workers] == [["http"]]
    assert run["status"] == "pending" and run["worker_id"] is None, "no shell runs here"
