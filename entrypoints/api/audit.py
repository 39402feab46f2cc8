"""The tamper-evidence chain over HTTP: its head, and a verification on demand."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from application.audit_check import AuditCheck, CheckTooLongError, parse_anchor
from domain.scalars import Integer
from entrypoints.api import providers
from entrypoints.api.deps import AppDep
from entrypoints.api.json_response import OrjsonResponse
from entrypoints.api.namespace_scope import EVERY_NAMESPACE
from entrypoints.api.strict import StrictRoute

router = APIRouter(
    prefix="/api/system/audit",
    tags=["system"],
    route_class=StrictRoute,
    dependencies=EVERY_NAMESPACE,  # the chain covers every namespace's events
)
AuditDep = Annotated[AuditCheck, Depends(providers.get_audit_check)]
MAX_POSITION = 2**62


class VerifyRequest(BaseModel):
    """Which part of the chain to recompute, and heads kept elsewhere that it must still have."""

    model_config = ConfigDict(extra="forbid")

    from_position: Integer | None = Field(None, ge=1, le=MAX_POSITION)
    to_position: Integer | None = Field(None, ge=1, le=MAX_POSITION)
    anchors: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="POSITION:HASH from a head kept elsewhere.",
    )


class VerifyAnswer(BaseModel):
    """What the walk found: intact or where it breaks, and the head it recomputed."""

    intact: bool
    verified: int
    from_position: int
    last_position: int
    head: str | None
    unchained: int = Field(description="Events after the chain's head, not chained yet.")
    broken: dict[str, Any] | None = Field(None, description="`position` and `reason` of the break.")


@router.get("", response_class=OrjsonResponse)
def audit_head(check: AuditDep, app: AppDep) -> dict[str, Any]:
    """The chain's head (`POSITION:HASH`, null when nothing is chained) and the log's head."""
    return {"head": check.head(), "log_head": app.head_position()}


@router.post("/verify", response_model=VerifyAnswer)
def verify(check: AuditDep, body: VerifyRequest | None = None) -> dict[str, Any]:
    """Recompute every link in the window and compare, as `scheduler audit verify` does
    (without extending the chain): 200 with `intact` false and the first break when it is
    broken. At most 1,000,000 events per request (422 beyond: give `from_position`)."""
    wanted = body or VerifyRequest.model_validate({})
    if (
        wanted.from_position is not None
        and wanted.to_position is not None
        and wanted.to_position < wanted.from_position
    ):
        raise HTTPException(status_code=422, detail="to_position is before from_position")
    try:
        anchors = dict(parse_anchor(anchor) for anchor in wanted.anchors)
        return check.verify(wanted.from_position, wanted.to_position, anchors)
    except CheckTooLongError as error:
        raise HTTPException(status_code=422, detail=f"from_position: {error}") from None
    except ValueError as error:
        raise HTTPException(status_code=422, detail=f"anchors: {error}") from None
