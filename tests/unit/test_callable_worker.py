"""A worker running callable tasks over the in-memory bus, with the real executors."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from adapters.delivery_executor import DeliveryExecutor
from adapters.executors import default_executors
from adapters.memory_bus import InMemoryBus
from application.messages import Control, Delivery, Report
from application.worker_agent import WorkerAgent, WorkerProfile
from tests.unit import callable_jobs

JOBS = "tests.unit.callable_jobs"


@pytest.fixture
def worker() -> Iterator[tuple[WorkerAgent, InMemoryBus]]:
    bus = InMemoryBus()
    executors = default_executors(
        callable_modules=[JOBS], max_concurrent_tasks=2, allowed=["callable"]
    )
    agent = WorkerAgent(
        WorkerProfile("w", "h", ["callable"], max_concurrent_tasks=2),
        bus,
        DeliveryExecutor(executors),
        heartbeat_interval=0.05,
        poll_interval=0.02,
    )
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run_forever, args=(stop, 1.0), daemon=True)
    thread.start()
    yield agent, bus
    callable_jobs.release.set()
    stop.set()
    thread.join(5)
    callable_jobs.release.clear()


def delivery(agent: WorkerAgent, function: str, *args: str, timeout: int = 0, **params: str):
    return Delivery(
        uuid.uuid4(),
        1,
        agent.worker_id,
        "t",
        "callable",
        f"{JOBS}:{function}",
        args=args,
        params=params,
        timeout_seconds=timeout,
        secrets=("s3cr3t",),
    )


def final(bus: InMemoryBus, run_id: uuid.UUID, seen: list[Report], timeout: float = 3.0) -> Report:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += [r.message for r in bus.receive_reports("test", 1000, 0.02)]
        for report in seen:
            if report.run_id == run_id and report.is_final:
                return report
    raise AssertionError("no final report")


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_callable_reports_its_value_and_its_start_in_the_final_report(worker) -> None:
    agent, bus = worker
    sent = delivery(agent, "add", "2", "3", scale="2")
    bus.publish_delivery(sent)
    seen: list[Report] = []
    report = final(bus, sent.run_id, seen)
    assert report.kind == "succeeded" and report.output == "10" and report.exit_code == 0
    assert report.started_at is not None and report.pid is not None
    assert report.hostname == "h"


def test_an_exception_is_reported_with_secrets_masked(worker) -> None:
    agent, bus = worker
    sent = delivery(agent, "add", "s3cr3t", "1")  # int("s3cr3t") quotes the secret
    bus.publish_delivery(sent)
    report = final(bus, sent.run_id, [])
    assert report.kind == "failed" and report.exit_code == 1
    assert report.error is not None and report.error.startswith("ValueError: ")
    assert "s3cr3t" not in report.error and "***" in report.error


def test_a_timed_out_sync_call_frees_its_slot_for_the_next_runs(worker) -> None:
    agent, bus = worker
    stuck = delivery(agent, "blocked", timeout=1)
    bus.publish_delivery(stuck)
    report = final(bus, stuck.run_id, [])
    assert report.kind == "failed" and report.timed_out
    assert agent.running == 0 and agent.orphaned_threads == 1
    # Capacity 2 beside the stuck thread: two runs go at once.
    runs = [delivery(agent, "blocked") for _ in range(2)]
    for run in runs:
        bus.publish_delivery(run)
    wait_for(lambda: agent.running == 2)
    callable_jobs.release.set()
    seen: list[Report] = []
    assert [final(bus, r.run_id, seen).output for r in runs] == ['"released"'] * 2
    wait_for(lambda: agent.orphaned_threads == 0)


def test_a_cancel_control_ends_a_running_call(worker) -> None:
    agent, bus = worker
    sent = delivery(agent, "async_forever", tag="worker")
    bus.publish_delivery(sent)
    wait_for(lambda: agent.running == 1)
    bus.publish_control(Control("cancel", agent.worker_id, sent.run_id, 1))
    report = final(bus, sent.run_id, [])
    assert report.kind == "failed" and report.error == "cancelled"
    wait_for(lambda: agent.running == 0)


def test_a_forbidden_module_fails_the_run_and_names_the_setting() -> None:
    bus = InMemoryBus()
    agent = WorkerAgent(
        WorkerProfile("w", "h", ["callable"]),
        bus,
        DeliveryExecutor(default_executors(callable_modules=["myapp"], allowed=["callable"])),
        poll_interval=0.02,
    )
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run_forever, args=(stop, 1.0), daemon=True)
    thread.start()
    try:
        sent = delivery(agent, "add", "1", "2")
        bus.publish_delivery(sent)
        report = final(bus, sent.run_id, [])
        assert report.kind == "failed" and report.exit_code is None
        assert report.error == (
            "module 'tests.unit.callable_jobs' is not in [worker] callable_modules (myapp)"
        )
    finally:
        stop.set()
        thread.join(5)
