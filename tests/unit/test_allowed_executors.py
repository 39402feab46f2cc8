"""`[worker] allowed_executors`: a worker neither offers nor runs an executor it may not."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

from adapters.delivery_executor import DeliveryExecutor
from adapters.executors import default_executors
from adapters.memory_bus import InMemoryBus
from application.messages import Delivery, Report
from entrypoints.settings import load_settings
from entrypoints.worker_assembly import make_worker


def only_http() -> DeliveryExecutor:
    return DeliveryExecutor(default_executors(allowed=["http"]))


def test_a_delivery_for_an_executor_that_is_not_allowed_fails_at_once_saying_why(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "ran"
    started: list[int] = []
    result = only_http().execute(
        Delivery(uuid.uuid4(), 1, uuid.uuid4(), "t", "shell", f"touch {marker}"),
        started.append,
    )
    assert result.exit_code is None and not result.succeeded
    assert result.error == (
        "executor 'shell' is not allowed on this worker ([worker] allowed_executors: http)"
    )
    assert not marker.exists() and started == [], "nothing was started"


def test_an_executor_no_worker_has_is_unknown_not_refused() -> None:
    result = only_http().execute(
        Delivery(uuid.uuid4(), 1, uuid.uuid4(), "t", "cobol", "run"), lambda _pid: None
    )
    assert result.error == "unknown executor 'cobol'; this worker has: http"


def test_the_worker_registers_with_only_the_executors_it_may_run() -> None:
    settings = load_settings(
        None,
        {
            "SCHEDULER_WORKER__ALLOWED_EXECUTORS": '["http", "python"]',
            "SCHEDULER_WORKER__NAME": "locked",
        },
    )
    bus = InMemoryBus()
    agent = make_worker(settings, bus)
    assert tuple(agent.profile.executors) == ("http", "python")
    agent.start()
    registered = [r.message for r in bus.receive_reports("test", 10, 0)]
    assert registered[0].kind == "registered"
    assert registered[0].profile is not None
    assert tuple(registered[0].profile.executors) == ("http", "python")


def test_a_refused_delivery_is_reported_failed_with_the_reason_in_the_run() -> None:
    settings = load_settings(None, {"SCHEDULER_WORKER__ALLOWED_EXECUTORS": '["http"]'})
    bus = InMemoryBus()
    agent = make_worker(settings, bus)
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run_forever, args=(stop, 1.0), daemon=True)
    thread.start()
    try:
        run_id = uuid.uuid4()
        bus.publish_delivery(Delivery(run_id, 1, agent.worker_id, "t", "shell", "id"))
        final = wait_for_final(bus, run_id)
        assert final.kind == "failed"
        assert final.error is not None and "is not allowed on this worker" in final.error
    finally:
        stop.set()
        thread.join(5)


def wait_for_final(bus: InMemoryBus, run_id: uuid.UUID) -> Report:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for received in bus.receive_reports("test", 100, 0.05):
            report = received.message
            if report.run_id == run_id and report.is_final:
                return report
    raise AssertionError("no final report")
