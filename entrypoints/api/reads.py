"""Read-side helpers shared by the query routes."""

from __future__ import annotations

from fastapi import HTTPException

from entrypoints.bootstrap import Container


def ensure_position(container: Container, min_position: int | None) -> None:
    """Honour ?min_position: wait (bounded) for the views, else answer 503 to retry."""
    if min_position is None:
        return
    head = container.app.head_position()
    if min_position > head:
        raise HTTPException(
            status_code=422,
            detail=f"min_position {min_position} is beyond the log head ({head})",
        )
    reached = container.waiter.wait(
        min_position, container.projection_names, container.settings.api.read_wait_timeout_seconds
    )
    if not reached:
        raise HTTPException(
            status_code=503,
            detail=f"the views have not reached log position {min_position} yet; retry",
            headers={"Retry-After": "1"},
        )
