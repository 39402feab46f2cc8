"""The notifier against real PostgreSQL, a real HTTP receiver and a real SMTP server (aiosmtpd).

Failed runs are made with the same commands the dispatcher uses (trigger, assign, a worker's
report), so the log holds exactly what a deployment's would.
"""

from __future__ import annotations

import base64
import email.policy
import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from typing import Any
from uuid import UUID

import pytest
from aiosmtpd.controller import Controller
from eventsourcing.persistence import StoredEvent

from adapters.webhook_sender import WebhookSender
from application.messages import Report
from application.subscriptions.commands import SubscriptionTarget
from application.subscriptions.notifier import Notifier
from domain.context import CommandContext
from domain.subscription_filter import SubscriptionFilter
from domain.task_spec import validate_spec
from entrypoints.alerting import make_notifier, start_notifier
from entrypoints.bootstrap import Container, build_container
from entrypoints.settings import load_settings
from projections.subscriptions import read_subscription
from tests.alert_receiver import SECRET, Receiver, verify
from tests.servers import fresh_postgres_database

KEY_TEXT = base64.b64encode(bytes(range(32))).decode()
FAILED = ("scheduler:TaskRun.Failed",)
WORKER = uuid.UUID(int=7)


class Mailbox:
    """aiosmtpd's handler: keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    found.up()
    yield found
    found.down()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:  # a free port: the controller's own readiness check needs one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def container(mailbox: tuple[Mailbox, int]) -> Iterator[Container]:
    with fresh_postgres_database() as url:
        settings = load_settings(
            None,
            {
                "SCHEDULER_DATABASE__URL": url,
                "SCHEDULER_SECRET_KEY": KEY_TEXT,
                "SCHEDULER_ALERTING__SMTP_HOST": "127.0.0.1",
                "SCHEDULER_ALERTING__SMTP_PORT": str(mailbox[1]),
                "SCHEDULER_ALERTING__SMTP_FROM": "scheduler@example.com",
                "SCHEDULER_ALERTING__RETRY_BASE_SECONDS": "0.05",
                "SCHEDULER_ALERTING__RETRY_MAX_SECONDS": "0.2",
                "SCHEDULER_ALERTING__TIMEOUT_SECONDS": "2",
            },
        )
        built = build_container(settings, process="projector")
        try:
            built.start_projections()
            yield built
        finally:
            built.close()


def ctx() -> CommandContext:
    return CommandContext("alert-test", datetime.now(UTC), uuid.uuid4())


def notifier(container: Container) -> tuple[Notifier, WebhookSender]:
    """A fresh notifier, as a restarted process has it: nothing in memory."""
    webhooks = WebhookSender(2.0)
    return make_notifier(container, webhooks), webhooks


def subscribe(container: Container, target: SubscriptionTarget, **filters: Any) -> UUID:
    max_attempts = filters.pop("max_attempts", 5)
    subscription_id, position = container.app.create_subscription(
        "test", target, SubscriptionFilter(**filters), max_attempts, None, ctx()
    )
    settle(container, position)
    return subscription_id


def settle(container: Container, position: int | None) -> None:
    assert container.waiter.wait(position, container.projection_names, timeout=10)


def failed_run(container: Container, task_id: UUID, error: str = "boom") -> int:
    """Trigger a run of the task and fail it as a worker would; returns the log head."""
    app = container.app
    run_id = app.trigger_task(task_id, ctx()).aggregate_id
    app.assign_runs([(run_id, WORKER)], "dispatcher:test", datetime.now(UTC))
    app.record_reports(
        [Report("failed", run_id, 1, WORKER, exit_code=3, error=error, duration_seconds=0.1)],
        datetime.now(UTC),
    )
    return app.head_position()


def new_task(container: Container) -> UUID:
    spec = validate_spec({"name": f"alerting-{uuid.uuid4().hex[:8]}", "command": "false"})
    return container.app.create_task(spec, ctx()).aggregate_id


def until(condition: Callable[[], bool], step: Callable[[], object], timeout: float = 10) -> None:
    """Run `step` until `condition` holds (poll, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        step()
        time.sleep(0.02)


def test_a_failed_run_produces_one_signed_delivery(
    container: Container, receiver: Receiver
) -> None:
    task_id = new_task(container)
    subscribe(container, SubscriptionTarget(url=receiver.url, secret=SECRET), topics=FAILED)
    failed_run(container, task_id, error="disk full")
    sender, webhooks = notifier(container)

    until(lambda: len(receiver.acked) == 1, sender.run_once)
    sender.run_once()  # nothing more to deliver

    webhooks.close()
    [(headers, body)] = receiver.received
    assert verify(headers, body)
    assert headers["Idempotency-Key"] == headers["X-Scheduler-Delivery"]
    sent = json.loads(body)
    assert (
        sent["event"]["type"] == "TaskRun.Failed" and sent["event"]["data"]["error"] == "disk full"
    )
    assert "disk full" in sent["text"]


def test_a_receiver_down_for_a_while_loses_nothing_and_gets_no_acked_delivery_twice(
    container: Container, receiver: Receiver
) -> None:
    task_id = new_task(container)
    subscription_id = subscribe(
        container, SubscriptionTarget(url=receiver.url, secret=SECRET), topics=FAILED
    )
    sender, webhooks = notifier(container)
    failed_run(container, task_id, "first")
    until(lambda: len(receiver.acked) == 1, sender.run_once)

    receiver.down()
    last = 0
    for n in range(2, 5):
        last = failed_run(container, task_id, f"run {n}")
    deadline = time.monotonic() + 0.5  # several attempts fail meanwhile, backing off
    while time.monotonic() < deadline:
        sender.run_once()
        time.sleep(0.02)
    row = read_subscription(container.database, subscription_id)
    assert row is not None and row.attempts >= 2 and row.last_error
    receiver.up()
    until(lambda: len(receiver.acked) == 4, sender.run_once)
    for _ in range(5):
        sender.run_once()

    webhooks.close()
    assert len(receiver.acked) == len(set(receiver.acked)) == 4
    errors = [b["event"]["data"]["error"] for b in receiver.acked_bodies()]
    assert errors == ["first", "run 2", "run 3", "run 4"]
    row = read_subscription(container.database, subscription_id)
    assert row is not None and row.delivered == 4 and row.attempts == 0
    assert row.offset == container.app.head_position() >= last  # a lag of 0


def test_a_restarted_notifier_resumes_from_its_stored_offset(
    container: Container, receiver: Receiver
) -> None:
    task_id = new_task(container)
    subscription_id = subscribe(
        container, SubscriptionTarget(url=receiver.url, secret=SECRET), topics=FAILED
    )
    first, webhooks = notifier(container)
    failed_run(container, task_id, "before")
    until(lambda: len(receiver.acked) == 1, first.run_once)
    webhooks.close()
    stored = read_subscription(container.database, subscription_id)

    failed_run(container, task_id, "after")
    second, webhooks = notifier(container)  # a new process: only the stored offset is known
    until(lambda: len(receiver.acked) == 2, second.run_once)
    second.run_once()

    webhooks.close()
    assert stored is not None and stored.offset is not None and stored.offset > 0
    assert [b["event"]["data"]["error"] for b in receiver.acked_bodies()] == ["before", "after"]


def test_a_delivery_is_dead_lettered_after_max_attempts_and_the_next_one_goes(
    container: Container, receiver: Receiver
) -> None:
    task_id = new_task(container)
    subscription_id = subscribe(
        container,
        SubscriptionTarget(url=receiver.url, secret=SECRET),
        topics=FAILED,
        max_attempts=3,
    )
    sender, webhooks = notifier(container)
    receiver.answer = 500
    failed_run(container, task_id, "given up")

    until(lambda: len(receiver.received) == 3, sender.run_once)
    receiver.answer = 200
    head = failed_run(container, task_id, "delivered")
    until(lambda: len(receiver.acked) == 1, sender.run_once)
    sender.run_once()

    webhooks.close()
    settle(container, container.app.head_position())
    row = read_subscription(container.database, subscription_id)
    assert row is not None and row.dead_lettered == 1 and row.last_dead_letter is not None
    assert row.last_dead_letter["attempts"] == 3 and "500" in row.last_dead_letter["error"]
    assert [b["event"]["data"]["error"] for b in receiver.acked_bodies()] == ["delivered"]
    assert len({h["X-Scheduler-Delivery"] for h, _ in receiver.received[:3]}) == 1  # one id
    assert row.offset == container.app.head_position() >= head  # a lag of 0


def test_a_replay_delivers_again_from_an_offset_with_new_delivery_ids(
    container: Container, receiver: Receiver
) -> None:
    task_id = new_task(container)
    subscription_id = subscribe(
        container, SubscriptionTarget(url=receiver.url, secret=SECRET), topics=FAILED
    )
    sender, webhooks = notifier(container)
    first_position = failed_run(container, task_id, "one")
    failed_run(container, task_id, "two")
    until(lambda: len(receiver.acked) == 2, sender.run_once)

    position = container.app.request_subscription_replay(subscription_id, first_position, ctx())
    settle(container, position)
    until(lambda: len(receiver.acked) == 4, sender.run_once)
    for _ in range(5):
        sender.run_once()

    webhooks.close()
    errors = [b["event"]["data"]["error"] for b in receiver.acked_bodies()]
    assert errors == ["one", "two", "one", "two"]
    assert len(set(receiver.acked)) == 4  # a replay is a new pass: new delivery ids


def test_an_email_subscription_sends_mail_for_the_third_failure_in_a_row(
    container: Container, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    task_id, other = new_task(container), new_task(container)
    subscribe(
        container,
        SubscriptionTarget(email=("ops@example.com",), secret=SECRET),
        topics=("scheduler:TaskRun.Failed", "scheduler:TaskRun.TimedOut"),
        tasks=(str(task_id),),
        failed_in_a_row=3,
    )
    sender, webhooks = notifier(container)
    for n in range(1, 4):
        failed_run(container, task_id, f"failure {n}")
        failed_run(container, other, "not this task")

    until(lambda: len(box.messages) == 1, sender.run_once)
    for _ in range(3):
        sender.run_once()

    webhooks.close()
    [raw] = box.messages
    mail = message_from_bytes(raw, policy=email.policy.default)
    assert mail["To"] == "ops@example.com" and "TaskRun.Failed" in mail["Subject"]
    text = mail.get_content()
    signed = text.strip().splitlines()[-1].encode()
    assert verify({k: str(v).strip() for k, v in mail.items()}, signed)  # unfolded
    assert json.loads(signed)["event"]["data"]["error"] == "failure 3"


def test_an_event_that_cannot_be_decoded_is_dead_lettered_and_the_next_one_delivered(
    container: Container, receiver: Receiver
) -> None:
    task_id = new_task(container)
    subscription_id = subscribe(
        container, SubscriptionTarget(url=receiver.url, secret=SECRET), topics=FAILED
    )
    poison = StoredEvent(uuid.uuid4(), 2, "scheduler:TaskRun.Failed", b"\x00 not json")
    container.app.recorder.insert_events([poison])  # a row no release could have written
    failed_run(container, task_id, "after the poison")
    sender, webhooks = notifier(container)

    until(lambda: len(receiver.acked) == 1, sender.run_once)
    sender.run_once()

    webhooks.close()
    settle(container, container.app.head_position())
    row = read_subscription(container.database, subscription_id)
    assert row is not None and row.dead_lettered == 1 and row.last_dead_letter is not None
    assert "cannot be decoded" in row.last_dead_letter["error"]
    assert row.last_dead_letter["aggregate_id"] == str(poison.originator_id)
    assert [b["event"]["data"]["error"] for b in receiver.acked_bodies()] == ["after the poison"]


def test_two_projector_processes_deliver_each_event_once(
    container: Container, receiver: Receiver
) -> None:
    twin = build_container(container.settings, process="projector")  # a second process
    try:
        task_id = new_task(container)
        subscribe(container, SubscriptionTarget(url=receiver.url, secret=SECRET), topics=FAILED)
        for built in (container, twin):
            start_notifier(built)
        for n in range(3):
            failed_run(container, task_id, f"failure {n}")
            twin.log_wakeup.ring()  # the twin's other process hears of saves by NOTIFY
        until(lambda: len(receiver.acked) >= 3, lambda: None)
        time.sleep(0.3)  # room for a duplicate to arrive, were there one
    finally:
        twin.close()

    assert len(receiver.received) == 3 and len(set(receiver.acked)) == 3
    errors = [b["event"]["data"]["error"] for b in receiver.acked_bodies()]
    assert errors == ["failure 0", "failure 1", "failure 2"]
