"""The notifier with in-memory fakes: no event stops a subscription, failures back off."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from application.commands.app import SchedulerApp
from application.messages import Report
from application.ports import FakeClock
from application.quarantine import UndecodableEvent
from application.secrets import NoSecretBox
from application.subscriptions.commands import SubscriptionTarget
from application.subscriptions.notifier import Notifier
from application.subscriptions.ports import Delivery, DeliveryFailedError, Followed, NotifierPolicy
from domain.context import CommandContext
from domain.subscription_filter import SubscriptionFilter, next_streak
from domain.task_spec import validate_spec

FAILED = "scheduler:TaskRun.Failed"
SUCCEEDED = "scheduler:TaskRun.Succeeded"


class Book:
    """One subscription and its offset, in memory."""

    def __init__(self, followed: Followed) -> None:
        self.sub = followed
        self.failures: list[tuple[int, datetime]] = []

    def followed(self) -> list[Followed]:
        return [self.sub]

    def start(self, subscription_id: UUID, position: int, generation: int, at: datetime) -> None:
        self.sub = replace(self.sub, offset=position, generation=generation, attempts=0)

    def advance(
        self,
        _id: UUID,
        _gen: int,
        position: int,
        delivered: int,
        streaks: dict[str, int],
        at: datetime,
    ) -> None:
        self.sub = replace(
            self.sub,
            offset=position,
            attempts=0,
            next_attempt_at=None,
            delivered=self.sub.delivered + delivered,
        )

    def failed(
        self, _id: UUID, _gen: int, attempts: int, retry_at: datetime, error: str, at: datetime
    ) -> None:
        self.sub = replace(self.sub, attempts=attempts, next_attempt_at=retry_at)
        self.failures.append((attempts, retry_at))


class Log:
    """A log of given events; records the dead letters it is told of."""

    def __init__(self, events: list[tuple[int, Any]]) -> None:
        self.events = events
        self.dead: list[tuple[int, dict[str, Any]]] = []

    def read_log(self, after: int, limit: int, topics: Sequence[str] = ()) -> list[tuple[int, Any]]:
        return [(p, e) for p, e in self.events if p > after][:limit]

    def head_position(self) -> int:
        return max((p for p, _ in self.events), default=0)

    def get_run(self, run_id: UUID, version: int | None = None) -> Any:
        raise AssertionError("no filter here needs a run's task")

    def dead_letter(
        self,
        _id: UUID,
        generation: int,
        position: int,
        details: dict[str, Any],
        ctx: CommandContext,
    ) -> bool:
        self.dead.append((position, details))
        return True


class Refusing:
    def __init__(self) -> None:
        self.sent: list[Delivery] = []

    def send(self, delivery: Delivery) -> None:
        self.sent.append(delivery)
        raise DeliveryFailedError("the receiver answered HTTP 503")


def followed(max_attempts: int = 3) -> Followed:
    return Followed(
        id=uuid.uuid4(),
        name="t",
        target="email",
        url_sealed=None,
        email=("a@example.com",),
        secret_sealed=None,
        filter={"topics": [FAILED]},
        max_attempts=max_attempts,
        start_after=0,
        replay_after=None,
        replay_version=0,
        offset=None,
        generation=0,
        attempts=0,
        next_attempt_at=None,
        delivered=0,
    )


def failed_event() -> Any:
    """A real TaskRun.Failed, made by the commands a dispatcher uses, in memory."""
    worker, now = uuid.UUID(int=1), datetime.now(UTC)
    ctx = CommandContext("test", now, uuid.uuid4())
    with SchedulerApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}) as app:
        task_id = app.create_task(
            validate_spec({"name": "n", "command": "false"}), ctx
        ).aggregate_id
        run_id = app.trigger_task(task_id, ctx).aggregate_id
        app.assign_runs([(run_id, worker)], "dispatcher:test", now)
        app.record_reports([Report("failed", run_id, 1, worker, exit_code=1, error="x")], now)
        return next(e for _, e in app.read_log(0, 100) if type(e).__name__ == "Failed")


def broken(position: int) -> tuple[int, UndecodableEvent]:
    return position, UndecodableEvent(uuid.uuid4(), 2, FAILED, "state is not JSON")


def test_an_event_that_cannot_be_decoded_is_dead_lettered_and_the_offset_moves_on() -> None:
    book, log = Book(followed()), Log([broken(3), broken(4)])
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    notifier = Notifier(log, book, {"email": Refusing()}, NoSecretBox(), clock)

    notifier.run_once()

    assert [p for p, _ in log.dead] == [3, 4]
    assert "cannot be decoded" in log.dead[0][1]["error"]
    assert book.sub.offset == 4


def test_a_refused_delivery_backs_off_doubling_then_is_dead_lettered() -> None:
    book, log = Book(followed(max_attempts=3)), Log([(7, failed_event())])
    clock, sender = FakeClock(datetime(2026, 1, 1, tzinfo=UTC)), Refusing()
    policy = NotifierPolicy(retry_base_seconds=2, retry_max_seconds=3)
    notifier = Notifier(log, book, {"email": sender}, NoSecretBox(), clock, policy=policy)

    notifier.run_once()
    notifier.run_once()  # too early: no attempt
    clock.advance(2)
    notifier.run_once()
    clock.advance(3)
    notifier.run_once()

    assert [(a, (t - datetime(2026, 1, 1, tzinfo=UTC)).seconds) for a, t in book.failures] == [
        (1, 2),
        (2, 5),
    ]
    assert len(sender.sent) == 3 and len({d.delivery_id for d in sender.sent}) == 1
    assert [p for p, _ in log.dead] == [7] and log.dead[0][1]["attempts"] == 3
    assert book.sub.offset == 7


class OutageError(Exception):
    """What a database error looks like to the notifier."""


def test_a_database_outage_while_reading_a_run_is_retried_never_dead_lettered() -> None:
    class DownLog(Log):
        def get_run(self, run_id: UUID, version: int | None = None) -> Any:
            raise OutageError("server closed the connection")

    sub = replace(followed(), filter={"topics": [FAILED], "tasks": [str(uuid.uuid4())]})
    book, log = Book(sub), DownLog([(7, failed_event())])
    notifier = Notifier(
        log,
        book,
        {"email": Refusing()},
        NoSecretBox(),
        FakeClock(datetime(2026, 1, 1, tzinfo=UTC)),
        is_outage=lambda error: isinstance(error, OutageError),
    )

    notifier.run_once()  # the round fails for this subscription (logged), nothing is given up

    assert log.dead == [] and book.sub.offset == 0


def test_the_filter_delivers_from_the_nth_failure_in_a_row_and_a_success_resets_it() -> None:
    event_filter = SubscriptionFilter(topics=(FAILED,), failed_in_a_row=2)
    streak, delivered = 0, []
    for topic in [FAILED, FAILED, FAILED, SUCCEEDED, FAILED, FAILED]:
        streak = next_streak(streak, topic)
        delivered.append(event_filter.matches(topic, None, "task", streak))

    assert delivered == [False, True, True, False, False, True]
    assert SUCCEEDED in event_filter.read_topics  # read to reset streaks, never delivered
    assert not SubscriptionFilter(topics=(FAILED,), statuses=("failed",)).matches(
        FAILED, "timed_out", None, 0
    )


def test_a_subscription_with_many_dead_letters_loads_from_its_snapshot() -> None:
    now = datetime.now(UTC)
    ctx = CommandContext("test", now, uuid.uuid4())
    details = {
        "event_type": "T",
        "aggregate_id": "a",
        "delivery_id": "d",
        "attempts": 1,
        "error": "e",
    }
    with SchedulerApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}) as app:
        target = SubscriptionTarget(email=("a@example.com",))
        sub_id, _ = app.create_subscription(
            "s", target, SubscriptionFilter(topics=(FAILED,)), 3, None, ctx
        )
        for position in range(1, 100):  # versions 2 to 100: a snapshot is taken at 100
            assert app.dead_letter(sub_id, 0, position, details, ctx)

        assert app.snapshots is not None and list(app.snapshots.get(sub_id))
        assert not app.dead_letter(sub_id, 0, 99, details, ctx)  # from the snapshot: once only
        assert app.dead_letter(sub_id, 0, 100, details, ctx)
