"""The notifier: follows the log for every subscription from its own stored offset.

At least once: an event is acknowledged by the receiver before the offset passes it, so a
restart (or a crash between the two) delivers it again with the same delivery id, which
receivers dedupe on. Each subscription waits on its own failing event (retried with
backoff, dead-lettered after `max_attempts`); the others go on. An event it cannot decode
or render is dead-lettered at once: no event in the log stops a subscription.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol
from uuid import UUID

from application.ports import Clock, Wakeup
from application.quarantine import UndecodableEvent, describe, event_topic
from application.secrets import SecretBox, SecretUnreadableError
from application.subscriptions.commands import secret_context
from application.subscriptions.payload import delivery_id, encode, event_body, headers
from application.subscriptions.ports import (
    Delivery,
    DeliveryFailedError,
    Followed,
    Lease,
    NotifierPolicy,
    Sender,
    SubscriptionBook,
)
from application.subscriptions.run_tasks import RunTasks
from domain.context import CommandContext
from domain.subscription_filter import SubscriptionFilter, next_streak

logger = logging.getLogger(__name__)

ACTOR = "system:notifier"


class NotifierLog(Protocol):
    """The log as the notifier reads it, and the one command it gives."""

    def read_log(
        self, after: int, limit: int, topics: Sequence[str] = ()
    ) -> list[tuple[int, Any]]: ...

    def head_position(self) -> int: ...

    def get_run(self, run_id: UUID, version: int | None = None) -> Any: ...

    def dead_letter(
        self,
        subscription_id: UUID,
        generation: int,
        position: int,
        details: dict[str, Any],
        ctx: CommandContext,
    ) -> bool: ...


class Notifier:
    """Delivers what each subscription selects, in log order, at least once."""

    def __init__(
        self,
        log: NotifierLog,
        book: SubscriptionBook,
        senders: Mapping[str, Sender],
        box: SecretBox,
        clock: Clock,
        *,
        policy: NotifierPolicy | None = None,
        wakeup: Wakeup | None = None,
        lease: Lease | None = None,
        on_outcome: Callable[[str, str], None] = lambda _target, _outcome: None,
        is_outage: Callable[[BaseException], bool] = lambda _error: False,
    ) -> None:
        self._log = log
        self._book = book
        self._senders = senders
        self._box = box
        self._clock = clock
        self.policy = policy or NotifierPolicy()
        self._wakeup = wakeup or Wakeup()
        self._lease = lease
        self._on_outcome = on_outcome  # (target, delivered|failed|dead_lettered): metrics
        self._is_outage = is_outage  # a database error is retried, never dead-lettered
        self._tasks = RunTasks(log.get_run, get_task=getattr(log, "get_task", None))

    def run_forever(self, stop: threading.Event) -> None:
        """Follow the log until stopped: woken by saves, and by a timer for retries."""
        try:
            while not stop.is_set():
                if self._lease is not None and not self._lease.acquire():
                    stop.wait(2.0)  # another process notifies
                    continue
                generation = self._wakeup.generation()
                try:
                    busy = self.run_once()
                except Exception:  # a database blip: keep following
                    logger.exception("notifier round failed")
                    stop.wait(1.0)
                    continue
                if not busy:
                    self._wakeup.wait(generation, self.policy.poll_interval_seconds)
        finally:
            if self._lease is not None:
                self._lease.release()

    def run_once(self) -> bool:
        """One round over every subscription; True when one has more to do at once."""
        busy = False
        for subscription in self._book.followed():
            try:
                busy = self._serve(subscription) or busy
            except Exception:  # one subscription's trouble never stops the others
                logger.exception(
                    "subscription %s: round failed",
                    subscription.id,
                    extra={"subscription_id": str(subscription.id)},
                )
        return busy

    def _serve(self, sub: Followed) -> bool:
        now = self._clock.now()
        offset, generation = sub.offset, sub.generation
        if offset is None or sub.replay_version > generation:
            generation = sub.replay_version
            replaying = generation > 0 and sub.replay_after is not None
            offset = (
                sub.replay_after if replaying and sub.replay_after is not None else sub.start_after
            )
            self._book.start(sub.id, offset, generation, now)
            sub = _restarted(sub, offset, generation)
        if sub.next_attempt_at is not None and now < sub.next_attempt_at:
            return False
        event_filter = SubscriptionFilter.from_dict(sub.filter)
        # Read before the batch: every event up to it is committed (saves are serialised),
        # so a short batch that is handled whole has handled everything up to it.
        head = self._log.head_position()
        batch = self._log.read_log(offset, self.policy.batch_size, event_filter.read_topics)
        full = len(batch) == self.policy.batch_size
        streaks, handled, delivered = dict(sub.streaks), offset, 0
        failure: _Failure | None = None
        for position, event in batch:
            before = dict(streaks)
            outcome = self._handle(sub, event_filter, streaks, position, event)
            if isinstance(outcome, _Failure):  # to be retried: stop here, keep the offset
                failure, streaks = outcome, before  # counted again when it is retried
                break
            handled, delivered = position, delivered + outcome
            sub = replace(sub, attempts=0)  # the next event starts afresh
        if failure is None and not full:
            handled = max(handled, head)  # nothing it selects lies between: the lag is 0
        if handled != offset:
            self._book.advance(sub.id, generation, handled, delivered, streaks, now)
        if failure is not None:
            self._record_failure(sub, failure)
            return False
        return full

    def _handle(
        self,
        sub: Followed,
        event_filter: SubscriptionFilter,
        streaks: dict[str, int],
        position: int,
        event: Any,
    ) -> int | _Failure:
        """1 delivered, 0 skipped or dead-lettered, or the failure to retry."""
        topic = event_topic(event)
        try:
            if isinstance(event, UndecodableEvent):
                raise ValueError(f"cannot be decoded: {event.error}")
            task_id = self._tasks.task_of(event, topic) if event_filter.needs_task() else None
            streak = 0
            if task_id is not None and event_filter.failed_in_a_row is not None:
                streak = next_streak(streaks.get(task_id, 0), topic)
                if streak:
                    streaks[task_id] = streak
                else:
                    streaks.pop(task_id, None)
            status = getattr(type(event), "status", None)
            namespace = self._tasks.namespace_of(event, topic) if event_filter.namespace else None
            if not event_filter.matches(topic, status and str(status), task_id, streak, namespace):
                return 0
            delivery = self._delivery(sub, position, event, task_id)
        except SecretUnreadableError as error:  # the subscription's key, not this event
            attempts = sub.attempts + 1
            if attempts < sub.max_attempts:
                return _Failure(delivery_id(sub.id, sub.generation, position), attempts, str(error))
            self._dead_letter(sub, position, event, topic, attempts, str(error))
            return 0
        except Exception as error:
            if self._is_outage(error):
                raise  # the database, not the event: the round fails and is tried again
            # This event cannot be decoded or rendered: give it up, go on with the next.
            self._dead_letter(sub, position, event, topic, sub.attempts, describe(error))
            return 0
        return self._send(sub, position, event, delivery)

    def _send(self, sub: Followed, position: int, event: Any, delivery: Delivery) -> int | _Failure:
        attempts = sub.attempts + 1
        try:
            self._senders[sub.target].send(delivery)
        except DeliveryFailedError as error:
            if attempts >= sub.max_attempts:
                self._dead_letter(sub, position, event, event_topic(event), attempts, str(error))
                return 0
            return _Failure(delivery.delivery_id, attempts, str(error))
        self._on_outcome(sub.target, "delivered")
        return 1

    def _record_failure(self, sub: Followed, failure: _Failure) -> None:
        now = self._clock.now()
        retry_at = now + timedelta(seconds=self.policy.backoff(failure.attempts))
        self._book.failed(sub.id, sub.generation, failure.attempts, retry_at, failure.error, now)
        self._on_outcome(sub.target, "failed")
        logger.warning(
            "subscription %s: delivery %s failed (attempt %d of %d): %s",
            sub.name,
            failure.delivery_id,
            failure.attempts,
            sub.max_attempts,
            failure.error,
            extra={"subscription_id": str(sub.id), "action": "delivery_failed"},
        )

    def _delivery(self, sub: Followed, position: int, event: Any, task_id: str | None) -> Delivery:
        delivery = delivery_id(sub.id, sub.generation, position)
        body = encode(event_body(event, position, (sub.id, sub.name), delivery, task_id))
        secret = self._open(sub, "secret", sub.secret_sealed)
        event_type = event_topic(event).removeprefix("scheduler:")
        timestamp = int(self._clock.now().timestamp())
        return Delivery(
            target=sub.target,
            url=self._open(sub, "url", sub.url_sealed),
            email=sub.email,
            subject=f"[scheduler] {event_type} ({event.originator_id})",
            body=body,
            headers=headers(delivery, event_type, timestamp, secret, body),
            delivery_id=delivery,
        )

    def _open(self, sub: Followed, field: str, sealed: str | None) -> str | None:
        return None if sealed is None else self._box.open(sealed, secret_context(sub.id, field))

    def _dead_letter(
        self, sub: Followed, position: int, event: Any, topic: str, attempts: int, error: str
    ) -> None:
        details = {
            "event_type": topic.removeprefix("scheduler:"),
            "aggregate_id": str(event.originator_id),
            "delivery_id": delivery_id(sub.id, sub.generation, position),
            "attempts": attempts,
            "error": error[:2000],
        }
        ctx = CommandContext(ACTOR, self._clock.now(), sub.id, sub.id)
        self._log.dead_letter(sub.id, sub.generation, position, details, ctx)
        self._on_outcome(sub.target, "dead_lettered")
        logger.error(
            "subscription %s: event at %d dead-lettered after %d attempts: %s",
            sub.name,
            position,
            attempts,
            error,
            extra={"subscription_id": str(sub.id), "action": "dead_lettered"},
        )


@dataclass(frozen=True)
class _Failure:
    delivery_id: str
    attempts: int
    error: str


def _restarted(sub: Followed, offset: int, generation: int) -> Followed:
    return replace(
        sub,
        offset=offset,
        generation=generation,
        attempts=0,
        next_attempt_at=None,
        delivered=0,
        streaks={},
    )
