"""API key routes (admin): issue a key (its secret is shown once), list keys, revoke one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from application.commands.app import SchedulerApp
from application.keys import parse_duration
from domain.errors import NotFoundError
from domain.namespace import ALL_NAMESPACES, MAX_NAMESPACES, checked_namespaces, covers
from entrypoints.api.deps import (
    AppDep,
    ClockDep,
    ContextDep,
    KeyDirectoryDep,
    ReadDatabaseDep,
    ViewsDep,
)
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.strict import StrictRoute
from entrypoints.api.views import mark_stale
from projections.api_keys import read_keys
from projections.ports import Database

router = APIRouter(prefix="/api/keys", tags=["keys"], route_class=StrictRoute)
Role = Literal["viewer", "operator", "editor", "admin", "worker"]


class KeyCreate(BaseModel):
    """A key to issue."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64, description="Unique; never reused.")
    role: Role
    expires_in: str | None = Field(
        None, max_length=40, description="e.g. 90d, 12h, 1w2d; none: the key does not expire."
    )
    namespaces: list[Annotated[str, Field(max_length=63)]] = Field(
        default_factory=lambda: [ALL_NAMESPACES],
        min_length=1,
        max_length=MAX_NAMESPACES,
        description='Where the key may see and act; ["*"] (the default): every namespace. A '
        "key scoped to namespaces issues keys only within them.",
    )


class KeyPublic(BaseModel):
    """A key as listed: never its secret nor its hash."""

    id: str
    name: str
    role: str
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    last_used_at: datetime | None = Field(description="Written at most once a minute per key.")
    namespaces: list[str] = Field([ALL_NAMESPACES], description='["*"]: every namespace.')


class KeyIssued(BaseModel):
    """A key just issued: `key` is its secret, shown this once and stored nowhere."""

    id: str
    name: str
    role: str
    expires_at: datetime | None
    namespaces: list[str]
    key: str
    position: int | None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyIssued)
def create_key(
    body: KeyCreate,
    app: AppDep,
    views: ViewsDep,
    key_directory: KeyDirectoryDep,
    ctx: ContextDep,
    response: Response,
    request: Request,
    scope: ScopeDep,
) -> dict[str, Any]:
    """Issue an API key; the answer holds the key itself, which is never shown again."""
    expires_in = parse_duration(body.expires_in) if body.expires_in is not None else None
    namespaces = checked_namespaces(body.namespaces)
    scope.ensure_asked_among(namespaces, "namespaces")
    for namespace in namespaces:  # a scoped key never issues a key wider than itself
        scope.ensure_may_act(request, namespace, "issuing a key")
    issued = app.create_api_key(body.name, body.role, ctx, expires_in, namespaces)
    if views.wait(response, issued.position):
        key_directory.refresh()  # usable here as soon as this answers
    response.headers["Cache-Control"] = "no-store"
    return {
        "id": str(issued.key_id),
        "name": issued.name,
        "role": issued.role,
        "expires_at": issued.expires_at,
        "namespaces": list(issued.namespaces),
        "key": issued.secret,
        "position": issued.position,
    }


@router.get("", response_model=list[KeyPublic])
def list_keys(
    database: ReadDatabaseDep,
    clock: ClockDep,
    scope: ScopeDep,
    status_filter: Annotated[
        str | None, Query(alias="status", pattern="^(active|expired|revoked)$")
    ] = None,
) -> list[dict[str, Any]]:
    """Every key: id, name, role, namespaces, status, created, expires, revoked and last used;
    with `namespace`, the keys that may act there. A scoped key lists only keys within its
    own namespaces."""
    now = clock.now()
    keys = [row.public(now) for row in read_keys(database)]
    if scope.requested is not None:
        keys = [k for k in keys if covers(k["namespaces"], scope.requested)]
    if scope.visible is not None:
        keys = [k for k in keys if all(scope.within(ns) for ns in k["namespaces"])]
    return [k for k in keys if status_filter in (None, k["status"])]


@router.delete("/{ref}", response_model=KeyPublic)
def revoke_key(
    ref: str,
    scope: ScopeDep,
    app: AppDep,
    database: ReadDatabaseDep,
    views: ViewsDep,
    clock: ClockDep,
    ctx: ContextDep,
    response: Response,
    reason: Annotated[str, Query(max_length=1_000)] = "",
) -> dict[str, Any]:
    """Revoke a key by id or name: every API process refuses it within 5 seconds."""
    key_id = app.resolve_api_key_ref(ref)
    if not all(scope.within(ns) for ns in app.get_api_key(key_id).namespaces):
        raise NotFoundError("API key", ref)  # wider than the caller's key: not its to see
    position = app.revoke_api_key(key_id, reason or f"revoked by {ctx.actor}", ctx)
    fresh = views.wait(response, position)
    key = _key(database, clock.now(), key_id)
    if key is None or not fresh:
        mark_stale(response)
        key = key or _from_log(app, key_id)
    return key


def _key(database: Database, now: datetime, key_id: UUID) -> dict[str, Any] | None:
    return next((r.public(now) for r in read_keys(database) if r.id == key_id), None)


def _from_log(keys: SchedulerApp, key_id: UUID) -> dict[str, Any]:
    key = keys.get_api_key(key_id)  # NotFoundError when there is none
    return {
        "id": str(key_id),
        "name": key.name,
        "role": key.role,
        "status": "revoked" if key.revoked_at else "active",
        "created_at": key.created_at,
        "created_by": "unknown",
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "revoked_by": None,
        "last_used_at": None,
        "namespaces": list(key.namespaces),
    }
