"""Callable tasks through a real `scheduler up`: a function called inside the worker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.e2e.conftest import SchedulerProcess, running_scheduler, unique, wait_for_run
from tests.servers import redis_url, server_missing

pytestmark = pytest.mark.e2e

EXAMPLES = "entrypoints.examples.tasks"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    env = {"SCHEDULER_WORKER__CALLABLE_MODULES": '["entrypoints.examples"]'}
    workdir = tmp_path_factory.mktemp("callable")
    with (
        running_scheduler(workdir, env) as proc,
        httpx.Client(base_url=proc.url, timeout=10) as http,
    ):
        yield http


def run_of(client: httpx.Client, command: str, params: dict | None = None, **fields) -> dict:
    body = {"name": unique("callable"), "executor": "callable", "command": command, **fields}
    created = client.post("/api/tasks", json=body)
    assert created.status_code == 201, created.text
    accepted = client.post(f"/api/tasks/{body['name']}/trigger", json={"params": params or {}})
    assert accepted.status_code == 202, accepted.text
    return wait_for_run(client, accepted.json()["run_id"])


def test_the_return_value_of_a_callable_is_the_runs_output(client: httpx.Client) -> None:
    run = run_of(client, f"{EXAMPLES}:echo", {"day": "mon"}, args=["a", "b"])
    assert run["status"] == "succeeded" and run["exit_code"] == 0
    assert json.loads(run["output"]) == {"args": ["a", "b"], "kwargs": {"day": "mon"}}
    timeline = client.get(f"/api/runs/{run['id']}/events").json()
    assert [e["type"] for e in timeline] == [
        "TaskRun.Requested",
        "TaskRun.Assigned",
        "TaskRun.Started",
        "TaskRun.Succeeded",
    ]


def test_an_exception_is_the_runs_error_with_its_traceback(client: httpx.Client) -> None:
    run = run_of(client, f"{EXAMPLES}:fail", {"message": "no input today"})
    assert run["status"] == "failed" and run["exit_code"] == 1
    assert run["error"].startswith("RuntimeError: no input today\n")
    assert 'tasks.py", line' in run["error"] and "in fail" in run["error"]


def test_a_callable_past_its_timeout_times_out(client: httpx.Client) -> None:
    run = run_of(client, f"{EXAMPLES}:async_sleep", {"seconds": "60"}, timeout_seconds=1)
    assert run["status"] == "timed_out"
    assert "timed out after 1.0s" in run["error"]


def test_a_module_outside_callable_modules_is_not_imported(client: httpx.Client) -> None:
    run = run_of(client, "os:getcwd")
    assert run["status"] == "failed"
    assert run["error"] == (
        "module 'os' is not in [worker] callable_modules (entrypoints.examples)"
    )


def test_a_command_that_is_not_module_function_is_refused_at_create(client: httpx.Client) -> None:
    body = {"name": unique("callable"), "executor": "callable", "command": "echo hi"}
    refused = client.post("/api/tasks", json=body)
    assert refused.status_code == 422
    assert "command" in refused.text and "package.module:function" in refused.text


def test_incr_counts_each_run_in_redis(client: httpx.Client) -> None:
    try:
        counter = redis.Redis.from_url(redis_url())
        counter.ping()
    except redis.RedisError as error:
        server_missing("Redis", error)
    key = f"test:callable:{uuid.uuid4().hex}"
    try:
        runs = [run_of(client, f"{EXAMPLES}:incr", {"key": key, "redis_url": redis_url()})]
        runs.append(run_of(client, f"{EXAMPLES}:incr", {"key": key, "redis_url": redis_url()}))
        assert [r["output"] for r in runs] == ["1", "2"]
        assert counter.get(key) == b"2"
    finally:
        counter.delete(key)
        counter.close()


def test_a_scheduler_without_callable_modules_offers_no_callable(tmp_path: Path) -> None:
    with running_scheduler(tmp_path) as proc:
        _assert_no_callable(proc)


def _assert_no_callable(proc: SchedulerProcess) -> None:
    deadline = time.monotonic() + 10
    with httpx.Client(base_url=proc.url, timeout=10) as http:
        while not (items := _workers(http)):  # the worker registers just after start
            assert time.monotonic() < deadline, "no worker registered"
            time.sleep(0.1)
    assert [w["executors"] for w in items] == [["shell", "python", "http"]]


def _workers(http: httpx.Client) -> list[dict]:
    workers = http.get("/api/workers").json()
    return workers["items"] if isinstance(workers, dict) else workers
