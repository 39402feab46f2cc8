"""Runs through the whole path: trigger → assigned → started → succeeded or failed."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import unique, wait_for_run


def create(client: httpx.Client, **fields: object) -> dict:
    body = {"command": "true", **fields}
    body["name"] = unique(str(body.get("name", "job")))
    response = client.post("/api/tasks", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_successful_run_records_its_start_exit_code_duration_and_output(
    client: httpx.Client,
) -> None:
    task = create(client, command="echo hello; echo oops >&2")
    accepted = client.post(f"/api/tasks/{task['id']}/trigger")
    assert accepted.status_code == 202
    run = wait_for_run(client, accepted.json()["run_id"])
    assert run["status"] == "succeeded"
    assert (run["exit_code"], run["attempt"]) == (0, 1)
    assert "hello" in run["output"] and "oops" in run["output"]
    assert run["started_at"] and run["finished_at"] and run["duration_seconds"] >= 0
    assert run["worker_id"]
    timeline = client.get(f"/api/runs/{run['id']}/events").json()
    assert [e["type"] for e in timeline] == [
        "TaskRun.Requested",
        "TaskRun.Assigned",
        "TaskRun.Started",
        "TaskRun.Succeeded",
    ]
    assert timeline[1]["payload"]["attempt"] == 1
    assert timeline[0]["actor"] == "anonymous@loopback"  # base_env: anonymous loopback
    assert timeline[-1]["actor"].startswith("worker:")
    assert len({e["correlation_id"] for e in timeline}) == 1


def test_a_failing_run_records_the_exit_code_and_error(client: httpx.Client) -> None:
    task = create(client, name="fails", command="echo partial; exit 3")
    run_id = client.post(f"/api/tasks/{task['name']}/trigger").json()["run_id"]
    run = wait_for_run(client, run_id)
    assert run["status"] == "failed"
    assert run["exit_code"] == 3
    assert "3" in run["error"]
    assert "partial" in run["output"]
    stats = client.get(f"/api/tasks/{task['id']}").json()["stats"]
    assert (stats["runs_total"], stats["runs_failed"]) == (1, 1)


def test_trigger_params_reach_the_process_as_environment_variables(client: httpx.Client) -> None:
    task = create(client, name="params", command='echo "day=$DAY"', env={"MODE": "x"})
    accepted = client.post(f"/api/tasks/{task['uuid']}/trigger", json={"params": {"DAY": "mon"}})
    run = wait_for_run(client, accepted.json()["run_id"])
    assert "day=mon" in run["output"]


def test_an_idempotency_key_makes_a_repeated_trigger_return_the_same_run(
    client: httpx.Client,
) -> None:
    task = create(client, name="once")
    headers = {"Idempotency-Key": "order-42"}
    first = client.post(f"/api/tasks/{task['id']}/trigger", headers=headers).json()
    again = client.post(f"/api/tasks/{task['id']}/trigger", headers=headers).json()
    assert first["run_id"] == again["run_id"]
    assert (first["created"], again["created"]) == (True, False)
    assert client.get("/api/runs", params={"task": task["name"]}).json()["total"] == 1


def test_a_read_right_after_a_command_sees_it(client: httpx.Client) -> None:
    for i in range(20):
        task = create(client, name=f"ryw-{i}")
        run_id = client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"]
        assert client.get(f"/api/tasks/{task['id']}").status_code == 200
        assert client.get(f"/api/runs/{run_id}").status_code == 200


def test_workers_list_shows_the_local_worker_with_load_and_heartbeat(
    client: httpx.Client,
) -> None:
    workers = client.get("/api/workers").json()
    assert len(workers) == 1
    worker = workers[0]
    assert worker["status"] == "active"
    assert worker["last_heartbeat_at"] is not None
    assert set(worker["executors"]) >= {"shell", "python"}
    assert client.get(f"/api/workers/{worker['id']}").json()["name"] == worker["name"]


def test_the_event_log_pages_by_position(client: httpx.Client) -> None:
    create(client, name="logged")
    first = client.get("/api/events", params={"limit": 2}).json()
    assert len(first["items"]) == 2
    assert [e["position"] for e in first["items"]] == sorted(e["position"] for e in first["items"])
    rest = client.get("/api/events", params={"after": first["next_after"]}).json()
    assert all(e["position"] > first["next_after"] for e in rest["items"])
    types = {e["type"] for e in first["items"] + rest["items"]}
    assert "Task.Created" in types and "Worker.Registered" in types


def test_metrics_expose_tasks_runs_and_latency_histograms(client: httpx.Client) -> None:
    task = create(client, name="measured")
    wait_for_run(client, client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"])
    text = client.get("/metrics").text
    assert 'scheduler_tasks{status="active"}' in text
    assert 'scheduler_runs{status="succeeded"}' in text
    assert "scheduler_run_duration_seconds_bucket" in text
    assert "scheduler_api_request_duration_seconds_bucket" in text
    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert set(health["checks"]["projections"]) == {
        "tasks",
        "runs",
        "workers",
        "run_stats",
        "api_keys",
        "event_index",
        "subscriptions",
        "namespaces",
    }


def test_an_http_task_calls_its_url(client: httpx.Client) -> None:
    url = str(client.base_url).rstrip("/") + "/health"
    task = create(client, name="probe", executor="http", command=url)
    run = wait_for_run(client, client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"])
    assert run["status"] == "succeeded", (run["error"], run["output"])
    assert "HTTP 200" in run["output"]


def test_a_cron_schedule_with_seconds_fires_runs_on_its_slots(client: httpx.Client) -> None:
    import time

    task = create(client, name="every-2s", schedule="*/2 * * * * *", command="echo tick")
    deadline = time.monotonic() + 15
    runs: list[dict] = []
    while time.monotonic() < deadline:
        runs = client.get("/api/runs", params={"task": task["name"], "status": "succeeded"}).json()[
            "items"
        ]
        if len(runs) >= 2:
            break
        time.sleep(0.2)
    assert len(runs) >= 2, runs
    assert {r["trigger"] for r in runs} == {"cron"}
    nominals = [r["nominal_time"] for r in runs]
    assert len(set(nominals)) == len(nominals)
    assert all(n.endswith(("0Z", "2Z", "4Z", "6Z", "8Z")) for n in nominals), nominals
    client.post(f"/api/tasks/{task['id']}/pause")  # stop it firing for the other tests


def test_a_failing_task_is_retried_and_every_attempt_is_visible(client: httpx.Client) -> None:
    task = create(client, name="flaky", command="exit 7", retry_count=2, retry_delay_seconds=0.2)
    run = wait_for_run(client, client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"])
    assert (run["status"], run["attempt"], run["exit_code"]) == ("failed", 3, 7)
    events = client.get(f"/api/runs/{run['id']}/events").json()
    retries = [e for e in events if e["type"] == "TaskRun.RetryScheduled"]
    assert [e["payload"]["attempt"] for e in retries] == [1, 2]
    assert all(e["payload"]["exit_code"] == 7 for e in retries)


def test_a_run_over_its_timeout_ends_timed_out(client: httpx.Client) -> None:
    task = create(client, name="slowpoke", command="sleep 30", timeout_seconds=1)
    run = wait_for_run(client, client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"])
    assert run["status"] == "timed_out", run
    assert "timed out" in run["error"]


def test_cancelling_a_running_run_kills_it(client: httpx.Client) -> None:
    import time

    task = create(client, name="cancel-me", command="sleep 30")
    run_id = client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"]
    deadline = time.monotonic() + 10
    while client.get(f"/api/runs/{run_id}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    answer = client.post(f"/api/runs/{run_id}/cancel", headers={"X-Actor": "ops"})
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert answer.json()["error"] == "cancelled by anonymous@loopback"  # X-Actor is not trusted
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 409
    pid = client.get(f"/api/runs/{run_id}/events").json()[2]["payload"]["pid"]
    from tests.unit.test_executors import live_members

    deadline = time.monotonic() + 10
    while live_members(pid):
        assert time.monotonic() < deadline, "the cancelled run's process is still alive"
        time.sleep(0.1)
