"""What a worker says about one attempt: how it started, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True)
class AttemptStart:
    """How the worker saw an attempt start; its final report repeats it.

    The repeat lets a final report that is recorded before (or instead of) its start report
    record the start as well, with the worker's own values.
    """

    worker_id: UUID
    pid: int | None = None
    hostname: str | None = None
    started_at: datetime | None = None  # the worker's clock


@dataclass(frozen=True)
class AttemptEnd:
    """How an attempt ended, as its worker reports it."""

    succeeded: bool
    exit_code: int | None
    duration_seconds: float
    output: str
    error: str | None = None
    timed_out: bool = False

    @property
    def outcome(self) -> str:
        """succeeded, timed_out, or failed."""
        if self.succeeded:
            return "succeeded"
        return "timed_out" if self.timed_out else "failed"
