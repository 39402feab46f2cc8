"""The HTTP worker protocol in process: poll the inbox, report attempts, fenced and owned."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest

from application.messages import Control, Delivery
from entrypoints.api import worker_protocol
from tests.routes.support import Api, exercises
from tests.routes.test_tasks import create
from tests.routes.test_workers import register

POLL = "/api/workers/{worker_id}/poll"
REPORT = "/api/runs/{run_id}/attempts/{attempt}/report"


def assigned_run(api: Api, worker_id: str) -> str:
    """A run of a new task, assigned (attempt 1) to the worker, as a dispatcher would."""
    client = api.client()
    task = create(client)
    run_id = client.post(f"/api/tasks/{task['id']}/trigger").json()["run_id"]
    app = api.container.app
    app.assign_runs([(uuid.UUID(run_id), uuid.UUID(worker_id))], "dispatcher", datetime.now(UTC))
    return run_id


@exercises("POST", POLL)
def test_a_poll_answers_the_workers_deliveries_and_controls_and_waits_when_empty(
    api: Api,
) -> None:
    worker_key = api.key("worker")
    client = api.client(worker_key)
    worker_id = register(client)["id"]
    wid = uuid.UUID(worker_id)
    run_id = uuid.uuid4()
    api.container.bus.publish_delivery(
        Delivery(run_id, 1, wid, "t", "shell", "echo hi", env={"TOKEN": "s3"})
    )
    api.container.bus.publish_control(Control("cancel", wid, run_id, 1))

    answer = client.post(f"/api/workers/{worker_id}/poll", json={"wait_seconds": 1})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [(d["run_id"], d["attempt"], d["command"]) for d in body["deliveries"]] == [
        (str(run_id), 1, "echo hi")
    ]
    assert body["deliveries"][0]["env"] == {"TOKEN": "s3"}  # the worker needs it to run
    assert [(c["kind"], c["run_id"]) for c in body["controls"]] == [("cancel", str(run_id))]
    empty = client.post(f"/api/workers/{worker_id}/poll", json={"wait_seconds": 0.2})
    assert empty.json() == {"deliveries": [], "controls": []}


@exercises("POST", POLL)
def test_a_poll_is_refused_for_another_keys_worker_a_lost_one_and_bad_bodies(
    api: Api,
) -> None:
    mine, theirs = api.client(api.key("worker")), api.client(api.key("worker"))
    worker_id = register(mine)["id"]
    assert (
        theirs.post(f"/api/workers/{worker_id}/poll", json={"wait_seconds": 0}).status_code == 403
    )
    assert api.client(api.key("viewer")).post(f"/api/workers/{worker_id}/poll").status_code == 403
    for bad in ({"wait_seconds": 31}, {"max_messages": 0}, {"wait": 1}):
        refused = mine.post(f"/api/workers/{worker_id}/poll", json=bad)
        assert refused.status_code == 422, bad
    assert mine.post(f"/api/workers/{uuid.uuid4()}/poll").status_code == 404
    api.container.app.recover_workers(
        [(uuid.UUID(worker_id), [])], 3, "dispatcher", datetime.now(UTC)
    )
    lost = mine.post(f"/api/workers/{worker_id}/poll", json={"wait_seconds": 0})
    assert lost.status_code == 409 and "register again" in lost.text


@exercises("POST", POLL)
def test_past_the_cap_of_waiting_polls_a_poll_is_a_503_to_retry(api: Api) -> None:
    client = api.client()
    worker_id = register(client)["id"]
    full = worker_protocol.StreamSlots(0)
    api.app.dependency_overrides[worker_protocol.poll_slots] = lambda: full

    answer = client.post(f"/api/workers/{worker_id}/poll", json={"wait_seconds": 0})

    assert answer.status_code == 503 and answer.headers["Retry-After"]


@exercises("POST", REPORT)
def test_a_report_goes_to_the_dispatchers_fenced_by_attempt_and_worker(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_protocol, "RECORD_WAIT_SECONDS", 0.1)
    client = api.client(api.key("worker"))
    worker_id = register(client)["id"]
    other_id = register(client)["id"]
    run_id = assigned_run(api, worker_id)
    report = {"worker_id": worker_id, "status": "succeeded", "exit_code": 0, "output": "ok"}

    # No dispatcher records it here: sent, not recorded yet, so the worker would resend.
    sent = client.post(f"/api/runs/{run_id}/attempts/1/report", json=report)
    assert sent.status_code == 202 and sent.json()["recorded"] is False
    received = api.container.bus.receive_reports("test", 10, 0.1)
    assert [(r.message.kind, r.message.attempt, r.message.output) for r in received] == [
        ("succeeded", 1, "ok")
    ]
    superseded = client.post(f"/api/runs/{run_id}/attempts/2/report", json=report)
    assert superseded.status_code == 409 and "attempt 1" in superseded.text
    not_theirs = client.post(
        f"/api/runs/{run_id}/attempts/1/report", json={**report, "worker_id": other_id}
    )
    assert not_theirs.status_code == 409
    bad = client.post(f"/api/runs/{run_id}/attempts/1/report", json={**report, "status": "done"})
    assert bad.status_code == 422 and "status" in bad.text
    assert (
        client.post(f"/api/runs/{uuid.uuid4()}/attempts/1/report", json=report).status_code == 404
    )
    assert client.post(f"/api/runs/{run_id}/attempts/0/report", json=report).status_code == 422


@exercises("POST", REPORT)
def test_a_report_a_dispatcher_records_in_time_answers_200_recorded(api: Api) -> None:
    client = api.client()
    worker_id = register(client)["id"]
    run_id = assigned_run(api, worker_id)
    bus, app = api.container.bus, api.container.app
    stop = threading.Event()

    def dispatcher() -> None:  # records what reaches the bus, as a dispatcher does
        while not stop.is_set():
            received = bus.receive_reports("test-dispatcher", 10, 0.05)
            app.record_reports([r.message for r in received], datetime.now(UTC))
            bus.ack_reports([r.token for r in received])

    recorder = threading.Thread(target=dispatcher, daemon=True)
    recorder.start()
    try:
        started = client.post(
            f"/api/runs/{run_id}/attempts/1/report",
            json={"worker_id": worker_id, "status": "started", "pid": 7},
        )
        finished = client.post(
            f"/api/runs/{run_id}/attempts/1/report",
            json={"worker_id": worker_id, "status": "failed", "exit_code": 3, "error": "boom"},
        )
    finally:
        stop.set()
        recorder.join(5)

    assert started.status_code == 200 and started.json() == {"recorded": True, "status": "running"}
    assert finished.status_code == 200 and finished.json()["recorded"] is True
    run = app.get_run(uuid.UUID(run_id))
    assert (run.status, run.reported_attempt) == ("failed", 1)
