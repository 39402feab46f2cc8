"""The Subscription aggregate: where alerts about log events go, and what became of them.

Its events are its creation, replay requests, dead letters and deletion. What the notifier
has delivered so far (its offset, counters, last error) is bookkeeping, not events: one event
per delivery would grow the log with every alert it reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self
from uuid import UUID

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError
from domain.subscription_filter import SubscriptionFilter

MAX_ATTEMPTS_LIMIT = 100


class Subscription(SchedulerAggregate):
    """One alert target (a webhook URL or email addresses) with a filter over the log."""

    TOPIC = "scheduler:Subscription"

    class Created(SchedulerAggregate.Created):
        TOPIC = "scheduler:Subscription.Created"
        name: str
        target: str  # "url" or "email"
        destination: str  # what reads show: the URL's origin, or the addresses
        url: str | None  # sealed envelope of the whole URL (a Slack URL is a credential)
        email: list[str]
        secret: str | None  # sealed envelope of the HMAC secret
        filter: dict[str, Any]  # SubscriptionFilter.as_dict()
        max_attempts: int
        start_after: int  # deliver the events after this log position

        def apply(self, aggregate: Subscription) -> None:
            aggregate.name = self.name
            aggregate.target = self.target
            aggregate.destination = self.destination
            aggregate.filter = dict(self.filter)
            aggregate.max_attempts = self.max_attempts
            aggregate.deleted = False
            aggregate.last_dead_letter = (0, 0)

    class ReplayRequested(SchedulerAggregate.Event):
        TOPIC = "scheduler:Subscription.ReplayRequested"
        from_position: int  # deliver again from this log position (inclusive)

        def apply(self, aggregate: Subscription) -> None:
            aggregate.last_dead_letter = (0, 0)

    class DeadLettered(SchedulerAggregate.Event):
        TOPIC = "scheduler:Subscription.DeadLettered"
        position: int  # the log position of the event given up on
        generation: int  # which pass over the log (0, or the replay request's version)
        event_type: str
        aggregate_id: str
        delivery_id: str
        attempts: int
        error: str

        def apply(self, aggregate: Subscription) -> None:
            aggregate.last_dead_letter = (self.generation, self.position)

    class Deleted(SchedulerAggregate.Event):
        TOPIC = "scheduler:Subscription.Deleted"
        reason: str

        def apply(self, aggregate: Subscription) -> None:
            aggregate.deleted = True

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        name: str
        target: str
        destination: str
        filter: dict[str, Any]
        max_attempts: int
        deleted: bool
        last_dead_letter: tuple[int, int]

    @classmethod
    def create(
        cls,
        subscription_id: UUID,
        name: str,
        target: str,
        destination: str,
        sealed: tuple[str | None, str | None],
        email: list[str],
        event_filter: SubscriptionFilter,
        max_attempts: int,
        start_after: int,
        ctx: CommandContext,
    ) -> Self:
        """Record a new subscription; `sealed` is (url, secret), both already sealed.

        Raises:
            InvalidFieldError: the target, the attempts or the start is not acceptable.
        """
        url, secret = sealed
        if target not in ("url", "email") or (target == "url") != (url is not None):
            raise InvalidFieldError("url", "give exactly one target: url or email")
        if target == "email" and not email:
            raise InvalidFieldError("email", "give at least one address")
        if not 1 <= max_attempts <= MAX_ATTEMPTS_LIMIT:
            raise InvalidFieldError("max_attempts", f"must be 1 to {MAX_ATTEMPTS_LIMIT}")
        if start_after < 0:
            raise InvalidFieldError("from_position", "must be 1 or more")
        return cls._create_with(
            cls.Created,
            subscription_id,
            ctx,
            name=name,
            target=target,
            destination=destination,
            url=url,
            email=list(email),
            secret=secret,
            filter=event_filter.as_dict(),
            max_attempts=max_attempts,
            start_after=start_after,
        )

    def request_replay(self, from_position: int, ctx: CommandContext) -> None:
        """Deliver again every matching event from a log position on.

        Raises:
            InvalidFieldError: the position is below 1.
            IllegalTransitionError: the subscription is deleted.
        """
        self._check_live("replay")
        if from_position < 1:
            raise InvalidFieldError("from_position", "must be 1 or more")
        self._record(self.ReplayRequested, ctx, from_position=from_position)

    def dead_letter(
        self, generation: int, position: int, details: dict[str, Any], ctx: CommandContext
    ) -> bool:
        """Give up on one event; False (nothing recorded) when it was given up on before.

        `details`: event_type, aggregate_id, delivery_id, attempts, error.
        """
        # tuple(): a snapshot gives the pair back as a JSON list.
        if self.deleted or tuple(self.last_dead_letter) >= (generation, position):
            return False  # a notifier that restarted before advancing its offset
        self._record(self.DeadLettered, ctx, generation=generation, position=position, **details)
        return True

    def delete(self, reason: str, ctx: CommandContext) -> None:
        """Stop delivering, for good.

        Raises:
            IllegalTransitionError: it was deleted before.
        """
        self._check_live("delete it again")
        self._record(self.Deleted, ctx, reason=reason)

    def _check_live(self, command: str) -> None:
        if self.deleted:
            raise IllegalTransitionError(f"subscription {self.name!r}", "deleted", command)
