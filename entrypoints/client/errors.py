"""What the client raises: the API's status and detail, or a run that did not finish in time."""

from __future__ import annotations

from typing import Any


class SchedulerError(Exception):
    """The API answered with an error: its HTTP status, `detail` and per-field `errors`."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail
        self.errors = errors or []


class RunWaitTimeoutError(TimeoutError):
    """A run was still unfinished when the wait ran out; `run` is how it was last seen."""

    def __init__(self, run_id: str, status: str, timeout: float) -> None:
        super().__init__(f"run {run_id} is still {status} after {timeout:g} s")
        self.run_id = run_id
        self.status = status
