"""Subscription commands: create, replay, dead-letter and delete (a mixin of SchedulerApp)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from application.commands.base import CommandsBase
from application.secrets import SecretsNotConfiguredError
from domain.context import CommandContext
from domain.subscription import Subscription
from domain.subscription_filter import SubscriptionFilter


@dataclass(frozen=True)
class SubscriptionTarget:
    """Where deliveries go: a webhook URL, or email addresses (exactly one of them)."""

    url: str | None = None
    email: tuple[str, ...] = ()
    secret: str | None = None  # the HMAC key; required for a URL


def secret_context(subscription_id: UUID, field: str) -> str:
    """The context a subscription's sealed value is bound to (it opens nowhere else)."""
    return f"scheduler:subscription:{subscription_id}:{field}"


def url_origin(url: str) -> str:
    """What reads show of a webhook URL: its origin (a Slack URL's path is its credential)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/***"


class SubscriptionCommands(CommandsBase):
    """Subscriptions are aggregates: each change is an event with the authenticated actor."""

    def create_subscription(
        self,
        name: str,
        target: SubscriptionTarget,
        event_filter: SubscriptionFilter,
        max_attempts: int,
        from_position: int | None,
        ctx: CommandContext,
    ) -> tuple[UUID, int | None]:
        """Record a subscription, its URL and secret sealed; returns its id and log position.

        Delivery starts after the log's head now, or at `from_position` when given.

        Raises:
            InvalidFieldError: a field is not acceptable, or no key is set to seal secrets.
        """
        subscription_id = self._new_id()
        url = self._seal_field(subscription_id, "url", target.url)
        secret = self._seal_field(subscription_id, "secret", target.secret)
        start_after = from_position - 1 if from_position is not None else self.head_position()
        destination = url_origin(target.url) if target.url else ", ".join(target.email)
        subscription = Subscription.create(
            subscription_id,
            name,
            "url" if target.url else "email",
            destination,
            (url, secret),
            list(target.email),
            event_filter,
            max_attempts,
            start_after,
            ctx,
        )
        return subscription_id, self._position(self.save(subscription))

    def request_subscription_replay(
        self, subscription_id: UUID, from_position: int, ctx: CommandContext
    ) -> int | None:
        """Ask the notifier to deliver again from a log position; returns the event's position.

        Raises:
            NotFoundError: no such subscription.
            IllegalTransitionError: it is deleted.
        """
        subscription = self.get_subscription(subscription_id)
        subscription.request_replay(from_position, ctx)
        return self._position(self.save(subscription))

    def dead_letter(
        self,
        subscription_id: UUID,
        generation: int,
        position: int,
        details: dict[str, Any],
        ctx: CommandContext,
    ) -> bool:
        """Record that one event was given up on; False if it was recorded before."""
        subscription = self.get_subscription(subscription_id)
        if not subscription.dead_letter(generation, position, details, ctx):
            return False
        return self.save_or_concede(subscription) or self.dead_letter(
            subscription_id, generation, position, details, ctx
        )

    def delete_subscription(
        self, subscription_id: UUID, reason: str, ctx: CommandContext
    ) -> int | None:
        """Stop a subscription for good; returns the event's log position.

        Raises:
            NotFoundError: no such subscription.
            IllegalTransitionError: it was deleted before.
        """
        subscription = self.get_subscription(subscription_id)
        subscription.delete(reason, ctx)
        return self._position(self.save(subscription))

    def get_subscription(self, subscription_id: UUID) -> Subscription:
        """Load a subscription from its events."""
        return self._get(subscription_id, Subscription, "subscription", None)

    def _seal_field(self, subscription_id: UUID, field: str, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return self.secrets.seal(value, secret_context(subscription_id, field))
        except SecretsNotConfiguredError:
            raise SecretsNotConfiguredError(field) from None
