"""Rebuilding a projection over HTTP: start it (admin), then follow its progress."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from domain.errors import NotFoundError
from entrypoints.api.deps import ContextDep, RebuildJobsDep
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.strict import StrictRoute
from projections.rebuild import RebuildLockedError

router = APIRouter(tags=["system"], route_class=StrictRoute, dependencies=EVERY_NAMESPACE)
PATH = "/api/system/projections/{name}/rebuild"


class RebuildPublic(BaseModel):
    """A projection's rebuild, as far as it came."""

    projection: str
    status: str = Field(description="running, switched (the rebuilt tables are live) or failed.")
    applied: int = Field(description="The log position the rebuilt tables have replayed up to.")
    total: int = Field(description="The log head it replays to (it grows as events come).")
    percent: float
    elapsed_seconds: float
    started_at: datetime
    finished_at: datetime | None
    position: int | None = Field(description="Where the projection stands once switched.")
    error: str | None = Field(description="Why it failed; the live tables are unchanged.")
    actor: str = Field(description="Who started it.")


@router.post(PATH, response_model=RebuildPublic, status_code=202)
def start_rebuild(name: str, jobs: RebuildJobsDep, ctx: ContextDep) -> dict[str, Any]:
    """Rebuild one projection from the log into new tables, then swap them in (admin).

    It runs in this API process, as `scheduler projections rebuild NAME` does: the views keep
    serving the old tables until the swap, one transaction. Follow it with GET on the same
    path. 409 while a rebuild of it runs here or anywhere else (its lock).
    """
    try:
        return jobs.start(name, ctx.actor).as_record()
    except RebuildLockedError as error:
        raise HTTPException(status_code=409, detail=str(error)) from None


@router.get(PATH, response_model=RebuildPublic)
def rebuild_progress(name: str, jobs: RebuildJobsDep) -> dict[str, Any]:
    """The last rebuild of the projection this API process started: progress, then outcome.

    404 when this process started none (a rebuild by the CLI or by another API process is
    followed where it runs; its end shows in the projection's `rebuilt_at`).
    """
    job = jobs.get(name)
    if job is None:
        raise NotFoundError("rebuild of projection", name)
    return job.as_record()
