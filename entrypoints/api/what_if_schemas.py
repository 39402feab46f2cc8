"""What-if request and response shapes (they become the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from application.what_if import OUTCOMES
from domain.backfill_slots import MAX_SLOTS
from domain.scalars import Integer
from entrypoints.api.schemas import TaskUpdate

MAX_COUNT = 100  # next fires listed per definition


class PreviewRequest(BaseModel):
    """A change to try on a task without saving it, and what to compare."""

    model_config = ConfigDict(extra="forbid")

    changes: TaskUpdate = Field(
        description="The same shape as PATCH /api/tasks/{ref}: schedule, timezone, "
        "misfire_policy, catchup_window_seconds, concurrency_policy, ..."
    )
    count: Annotated[Integer, Field(ge=1, le=MAX_COUNT)] = Field(
        10, description="How many next fires to list for each definition."
    )
    from_: AwareDatetime | None = Field(
        None, alias="from", description="A past window's start (with `to`), ISO 8601 with a zone."
    )
    to: AwareDatetime | None = Field(
        None, description=f"The window's end, not in the future; at most {MAX_SLOTS} slots."
    )


class Span(BaseModel):
    """An interval of time."""

    from_: datetime = Field(alias="from")
    to: datetime


class SlotDifference(BaseModel):
    """A slot whose outcome differs; null: the slot is not one of that definition's."""

    nominal_time: datetime
    current: str | None
    proposed: str | None


class WindowPublic(BaseModel):
    """The past window replayed under both definitions, given what really happened."""

    from_: datetime = Field(alias="from")
    to: datetime
    current: dict[str, int] = Field(description=f"Slots per outcome: {', '.join(OUTCOMES)}.")
    proposed: dict[str, int]
    differences: list[SlotDifference] = Field(description="At most 1,000, oldest first.")
    differences_total: int
    downtime: list[Span] = Field(description="Where no dispatcher decided in time.")
    overlaps: list[Span] = Field(description="Where a run of the task was running.")
    notes: list[str]


class PreviewPublic(BaseModel):
    """A what-if answer: nothing was saved."""

    task_uuid: str
    status: str
    changed: list[str] = Field(description="The fields the change would really change.")
    current: list[datetime] = Field(description="The next fires as the task is now.")
    proposed: list[datetime] = Field(description="The next fires after the change.")
    window: WindowPublic | None = Field(description="With `from` and `to` only.")
