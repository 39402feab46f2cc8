"""Backfill request and response shapes (they become the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from domain.backfill import MAX_CONCURRENCY
from domain.backfill_slots import MAX_SLOTS
from domain.scalars import Integer


class BackfillRequest(BaseModel):
    """A backfill of a task's slots in a window: previewed (`dry_run`) or executed."""

    model_config = ConfigDict(extra="forbid")

    from_: AwareDatetime = Field(
        alias="from", description="The window's start, ISO 8601 with a zone (included)."
    )
    to: AwareDatetime = Field(
        description=f"The window's end, included; at most {MAX_SLOTS} slots in the window."
    )
    dry_run: StrictBool = Field(
        description="true: list the slots and whether each has a run, change nothing."
    )
    concurrency: Annotated[Integer, Field(ge=1, le=MAX_CONCURRENCY)] = Field(
        1, description="At most this many of the backfill's runs in flight; the rest wait."
    )
    overlap_policy: Literal["allow", "task"] = Field(
        "allow",
        description="allow: the backfill's runs overlap each other (up to `concurrency`) "
        "whatever the task's concurrency_policy; task: each follows the task's "
        "concurrency_policy as a cron fire does. A slot that already has a run always keeps "
        "it (its run id is the cron fire's).",
    )


class SlotPublic(BaseModel):
    """One slot of the window."""

    nominal_time: datetime
    exists: bool = Field(description="A run for this slot exists already (it is not run again).")
    run_id: str = Field(description="The slot's run id, the one cron uses: uuid5(task, time).")


class BackfillPreview(BaseModel):
    """A dry run: every slot of the window; nothing was changed."""

    dry_run: Literal[True] = True
    task_uuid: str
    slots_total: int
    existing: int
    slots: list[SlotPublic]


class BackfillPublic(BaseModel):
    """A backfill and its progress, as its events say."""

    id: str
    task_uuid: str
    status: str = Field(description="running, completed or cancelled.")
    window_from: datetime
    window_to: datetime
    concurrency: int
    overlap_policy: str
    slots_total: int
    requested: int = Field(description="Slots whose run the backfill requested.")
    existing: int = Field(description="Slots that already had a run, left as they were.")
    pending: int = Field(description="Slots not decided yet.")
    in_flight: int = Field(description="Its runs requested and not ended.")
    finished: int = Field(description="Its runs that ended (succeeded or not).")
    failed: int = Field(
        description="Its runs that ended without succeeding (failed, timed out, cancelled, "
        "skipped, upstream failed)."
    )
    reason: str | None = Field(None, description="Why it was cancelled.")
    started_at: datetime
    actor: str | None
    position: int | None = Field(None, description="Log position of the command's events.")
