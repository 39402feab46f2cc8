"""Subscription routes: alerts about log events, delivered to a webhook or by email."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from application.commands.app import SchedulerApp
from application.subscriptions.commands import SubscriptionTarget
from domain.errors import InvalidFieldError, NotFoundError
from domain.namespace import DEFAULT_NAMESPACE, checked_namespace
from domain.scalars import Integer
from domain.subscription_filter import SubscriptionFilter
from entrypoints.api.deps import AlertingDep, AppDep, ContextDep, ReadDatabaseDep, ViewsDep
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.strict import StrictRoute
from entrypoints.event_types import UnknownEventTypeError, topics_named
from projections.ports import Database
from projections.subscriptions import read_subscription, read_subscriptions

router = APIRouter(prefix="/api/subscriptions", tags=["subscriptions"], route_class=StrictRoute)
EMAIL = re.compile(r"^[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+$")
MIN_SECRET_CHARS = 16  # an HMAC key guessable in an afternoon signs nothing


class SubscriptionCreate(BaseModel):
    """A subscription: one target (`url` or `email`), a secret and a filter."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=100, description="Default: the target.")
    url: str | None = Field(
        None,
        max_length=2_000,
        description="An http(s) webhook, Slack-compatible (the body has a `text`). Stored"
        " encrypted; reads show only its origin.",
    )
    email: list[str] | None = Field(
        None, min_length=1, max_length=20, description="Addresses, sent via [alerting] smtp_*."
    )
    secret: str | None = Field(
        None,
        min_length=MIN_SECRET_CHARS,
        max_length=500,
        description="HMAC-SHA256 key of X-Scheduler-Signature; required with `url`. Stored"
        " encrypted, never shown.",
    )
    event_types: list[str] = Field(
        min_length=1,
        max_length=50,
        description="e.g. TaskRun.Failed, or an aggregate (TaskRun) for all its events.",
    )
    tasks: list[str] = Field(
        default_factory=list, max_length=100, description="Task numbers, UUIDs or names."
    )
    statuses: list[str] = Field(
        default_factory=list, max_length=20, description="Run statuses the event sets."
    )
    failed_in_a_row: Integer | None = Field(
        None, ge=1, le=1_000, description="Only failures that make a task's streak this long."
    )
    namespace: str | None = Field(
        None,
        max_length=63,
        description="Only events of this namespace's tasks and runs (and `tasks` named in it);"
        " none: every namespace. A key scoped to namespaces must name one of its own.",
    )
    max_attempts: Integer | None = Field(
        None, ge=1, le=100, description="Before a dead letter; default [alerting] max_attempts."
    )
    from_position: Integer | None = Field(
        None, ge=1, description="Deliver from this log position on; default: from now."
    )


class ReplayRequest(BaseModel):
    """Where a replay starts."""

    model_config = ConfigDict(extra="forbid")

    from_position: Integer = Field(ge=1, description="Deliver again from this log position on.")


class SubscriptionPublic(BaseModel):
    """A subscription and the notifier's progress on it; never the URL's path or the secret."""

    id: str
    name: str
    target: Literal["url", "email"]
    destination: str
    event_types: list[str]
    tasks: list[str]
    statuses: list[str]
    failed_in_a_row: int | None
    namespace: str | None = None
    max_attempts: int
    status: Literal["active", "deleted"]
    offset: int = Field(description="The last log position handled.")
    lag: int = Field(description="Log positions between the offset and the head.")
    pending_attempts: int = Field(description="Failed attempts at the event after the offset.")
    next_attempt_at: datetime | None
    delivered: int
    dead_lettered: int
    last_dead_letter: dict[str, Any] | None
    last_error: str | None
    last_error_at: datetime | None
    last_delivered_at: datetime | None
    created_at: datetime
    created_by: str
    deleted_at: datetime | None


class SubscriptionCreated(BaseModel):
    """A subscription just recorded."""

    id: str
    position: int | None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SubscriptionCreated)
def create_subscription(
    body: SubscriptionCreate,
    app: AppDep,
    views: ViewsDep,
    alerting: AlertingDep,
    ctx: ContextDep,
    response: Response,
    request: Request,
    scope: ScopeDep,
) -> dict[str, Any]:
    """Subscribe a webhook or email addresses to the log events the filter selects."""
    if scope.requested is not None:
        scope.ensure_asked(str(body.namespace))
    if body.namespace is not None:
        checked_namespace(body.namespace)
        scope.ensure_may_act(request, body.namespace, "subscribing")
    elif scope.visible is not None:  # every namespace's events: wider than the key
        scope.ensure_may_act(request, "*", "subscribing to every namespace")
    target = _target(body, alerting.smtp_host is not None)
    if body.from_position is not None and body.from_position > app.head_position() + 1:
        raise InvalidFieldError("from_position", "is beyond the log's head")
    try:
        topics = topics_named(body.event_types)
    except UnknownEventTypeError as error:
        raise InvalidFieldError("event_types", str(error)) from None
    event_filter = SubscriptionFilter(
        topics=tuple(topics),
        tasks=tuple(str(_task(app, ref, body.namespace)) for ref in body.tasks),
        statuses=tuple(body.statuses),
        failed_in_a_row=body.failed_in_a_row,
        namespace=body.namespace,
    )
    name = body.name or (
        ", ".join(target.email) if target.email else urlsplit(body.url or "").netloc
    )
    subscription_id, position = app.create_subscription(
        name,
        target,
        event_filter,
        body.max_attempts or alerting.max_attempts,
        body.from_position,
        ctx,
    )
    views.wait(response, position)
    return {"id": str(subscription_id), "position": position}


@router.get("", response_model=list[SubscriptionPublic])
def list_subscriptions(
    app: AppDep,
    database: ReadDatabaseDep,
    scope: ScopeDep,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern="^(active|deleted)$")
    ] = None,
) -> list[dict[str, Any]]:
    """Every subscription, with its offset, lag, counts and last error; with `namespace`, those
    of that namespace (a scoped key sees only its namespaces')."""
    head = app.head_position()
    found = [row.public(head) for row in read_subscriptions(database)]
    if scope.requested is not None:
        found = [s for s in found if s["namespace"] == scope.requested]
    if scope.visible is not None:
        found = [s for s in found if s["namespace"] is not None and scope.sees(s["namespace"])]
    return [s for s in found if status_filter in (None, s["status"])]


@router.get("/{subscription_id}", response_model=SubscriptionPublic)
def get_subscription(
    subscription_id: str, app: AppDep, database: ReadDatabaseDep, scope: ScopeDep
) -> dict[str, Any]:
    """One subscription: offset, lag, delivered and dead-lettered counts, last error."""
    found = _public(database, app, _id(subscription_id))
    if scope.narrowed and not scope.sees(found["namespace"] or "*"):
        raise NotFoundError("subscription", subscription_id)  # not the scoped key's to see
    return found


@router.delete("/{subscription_id}", response_model=SubscriptionPublic)
def delete_subscription(
    subscription_id: str,
    app: AppDep,
    database: ReadDatabaseDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
    reason: Annotated[str, Query(max_length=1_000)] = "",
) -> dict[str, Any]:
    """Stop a subscription for good (its history stays in the log)."""
    sub_id = _id(subscription_id)
    position = app.delete_subscription(sub_id, reason or f"deleted by {ctx.actor}", ctx)
    views.wait(response, position)
    return _public(database, app, sub_id)


@router.post(
    "/{subscription_id}/replay",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SubscriptionPublic,
)
def replay_subscription(
    subscription_id: str,
    body: ReplayRequest,
    app: AppDep,
    database: ReadDatabaseDep,
    views: ViewsDep,
    ctx: ContextDep,
    response: Response,
) -> dict[str, Any]:
    """Deliver again every matching event from a log position on, with new delivery ids."""
    sub_id = _id(subscription_id)
    if body.from_position > app.head_position() + 1:
        raise InvalidFieldError("from_position", "is beyond the log's head")
    position = app.request_subscription_replay(sub_id, body.from_position, ctx)
    views.wait(response, position)
    return _public(database, app, sub_id)


def _target(body: SubscriptionCreate, can_mail: bool) -> SubscriptionTarget:
    if body.url is None and body.email is None:
        raise InvalidFieldError("url", "give a target: url (a webhook) or email")
    if body.url is not None and body.email is not None:
        raise InvalidFieldError("email", "give one target: url or email, not both")
    if body.url is not None:
        parts = urlsplit(body.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidFieldError("url", "must be an http:// or https:// URL with a host")
        if body.secret is None:
            raise InvalidFieldError("secret", "a webhook needs a secret to sign its deliveries")
        return SubscriptionTarget(url=body.url, secret=body.secret)
    emails = tuple(body.email or ())
    for address in emails:
        if not EMAIL.match(address):
            raise InvalidFieldError("email", f"{address[:80]!r} is not an email address")
    if not can_mail:
        raise InvalidFieldError("email", "this scheduler has no [alerting] smtp_host to send mail")
    return SubscriptionTarget(email=emails, secret=body.secret)


def _task(app: SchedulerApp, ref: str, namespace: str | None) -> UUID:
    try:
        task_id = app.resolve_task_ref(ref, namespace or DEFAULT_NAMESPACE)
        if namespace is not None and app.task_namespace(task_id) != namespace:
            raise NotFoundError("task", ref)
        return task_id
    except NotFoundError:
        raise InvalidFieldError("tasks", f"no task {ref[:80]!r}") from None


def _id(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError:
        raise NotFoundError("subscription", text[:80]) from None


def _public(database: Database, app: SchedulerApp, subscription_id: UUID) -> dict[str, Any]:
    row = read_subscription(database, subscription_id)
    if row is None:
        app.get_subscription(subscription_id)  # NotFoundError when there is none
        raise NotFoundError("subscription", f"{subscription_id} (not yet in the read table)")
    return row.public(app.head_position())
