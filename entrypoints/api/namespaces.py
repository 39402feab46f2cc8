"""Namespace routes: create a namespace, list them, read one, change its limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from application.commands.app import SchedulerApp
from domain.errors import NotFoundError
from domain.namespace import NAMESPACE_RULE, checked_namespace
from domain.namespace_limits import MAX_LIMIT, Namespace
from domain.scalars import Integer
from entrypoints.api.deps import AppDep, ContextDep, ReadDatabaseDep, ViewsDep
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.strict import StrictRoute
from entrypoints.api.views import Views, mark_stale
from projections.namespaces import read_namespaces
from projections.ports import Database

router = APIRouter(prefix="/api/namespaces", tags=["namespaces"], route_class=StrictRoute)
Limit = Annotated[Integer | None, Field(ge=1, le=MAX_LIMIT)]
NamePath = Annotated[str, Path(max_length=63, description=f"The namespace ({NAMESPACE_RULE}).")]


class NamespaceLimits(BaseModel):
    """A change of a namespace's limits: only the fields sent change; null: unlimited."""

    model_config = ConfigDict(extra="forbid")

    max_concurrent_runs: Limit = Field(
        None,
        description="Runs of the namespace assigned or running at once; the others wait "
        "(reason code namespace_limit) until one ends.",
    )
    trigger_rate_per_minute: Limit = Field(
        None,
        description="Runs requested per minute by trigger, batch trigger and backfill "
        "(per API process); beyond it, 429 with Retry-After.",
    )


class NamespaceCreate(NamespaceLimits):
    """A namespace to create, with its limits (absent: unlimited)."""

    name: str = Field(min_length=1, max_length=63, description=NAMESPACE_RULE)


class NamespacePublic(BaseModel):
    """A namespace and its limits (null: unlimited)."""

    name: str
    max_concurrent_runs: int | None
    trigger_rate_per_minute: int | None
    created_at: datetime | None = Field(description="null for default before its limits changed.")
    updated_at: datetime | None


@router.post("", status_code=status.HTTP_201_CREATED, response_model=NamespacePublic)
def create_namespace(
    body: NamespaceCreate,
    app: AppDep,
    database: ReadDatabaseDep,
    views: ViewsDep,
    scope: ScopeDep,
    ctx: ContextDep,
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Create a namespace; its tasks' names are its own, and workers serve it by name."""
    name = checked_namespace(body.name, "name")
    scope.ensure_asked(name, "name")
    scope.ensure_may_act(request, name, "creating a namespace")
    limits = body.model_dump(exclude={"name"})
    result = app.create_namespace(name, limits, ctx)
    response.headers["Location"] = f"/api/namespaces/{name}"
    return _answer(app, database, views, response, name, result.position)


@router.get("", response_model=list[NamespacePublic])
def list_namespaces(database: ReadDatabaseDep, scope: ScopeDep) -> list[dict[str, Any]]:
    """Every namespace the caller may see, default first."""
    return [n for n in read_namespaces(database) if scope.sees(n["name"])]


@router.get("/{name}", response_model=NamespacePublic)
def get_namespace(
    name: NamePath, app: AppDep, database: ReadDatabaseDep, views: ViewsDep, scope: ScopeDep
) -> dict[str, Any]:
    """One namespace and its limits."""
    scope.ensure_sees(checked_namespace(name, "name"), "namespace", name)
    return _answer(app, database, views, None, name, None)


@router.patch("/{name}", response_model=NamespacePublic)
def set_namespace_limits(
    name: NamePath,
    body: NamespaceLimits,
    app: AppDep,
    database: ReadDatabaseDep,
    views: ViewsDep,
    scope: ScopeDep,
    ctx: ContextDep,
    response: Response,
) -> dict[str, Any]:
    """Change a namespace's limits: only the fields sent change; null lifts a limit."""
    scope.ensure_sees(checked_namespace(name, "name"), "namespace", name)
    result = app.set_namespace_limits(name, body.model_dump(exclude_unset=True), ctx)
    return _answer(app, database, views, response, name, result.position)


def _answer(
    app: SchedulerApp,
    database: Database,
    views: Views,
    response: Response | None,
    name: str,
    position: int | None,
) -> dict[str, Any]:
    """The namespace from its table once it caught up; else from its events (marked stale)."""
    if response is not None and not views.wait(response, position):
        return _from_log(app, name, response)
    found = next((n for n in read_namespaces(database) if n["name"] == name), None)
    return found if found is not None else _from_log(app, name, response)


def _from_log(app: SchedulerApp, name: str, response: Response | None) -> dict[str, Any]:
    record: Namespace | None = app.get_namespace(name)
    if record is None:
        raise NotFoundError("namespace", name)
    if response is not None:
        mark_stale(response)
    return {"name": record.name, **record.limits(), "created_at": None, "updated_at": None}
