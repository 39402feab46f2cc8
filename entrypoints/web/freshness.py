"""A live refresh renders what the event it heard changed, not what the views had before it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header

from entrypoints.api.deps import ViewsDep

MAX_POSITION = 2**62


def settle_to_seen(
    views: ViewsDep,
    x_seen_position: Annotated[int | None, Header(ge=0, le=MAX_POSITION)] = None,
) -> None:
    """Wait (bounded) until the views have the newest event the page heard on its stream.

    The stream reads the log, which is ahead of the views: without this a refresh heard of
    `TaskRun.Started` could render the run still pending, and a short state would never show.
    """
    if x_seen_position is not None:
        views.settle(x_seen_position)
