"""A page shows, and streams from, the position its views had: no event falls in between."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from entrypoints.api.deps import ViewsDep

MAX_POSITION = 2**62


def settle_to_seen(
    request: Request,
    views: ViewsDep,
    x_seen_position: Annotated[int | None, Header(ge=0, le=MAX_POSITION)] = None,
) -> None:
    """Wait (bounded) for the views to have what the page heard, then note where they are.

    The stream reads the log, which is ahead of the views. A refresh that heard of
    `TaskRun.Started` (`X-Seen-Position`) renders once the views have it. The page's stream
    then starts from the views' position taken before its queries (`data-head`), not from the
    log head: an event the views had not applied yet when the page rendered still arrives and
    refreshes it, so a run page never stays on a state that has passed.
    """
    if x_seen_position is not None:
        views.settle(x_seen_position)
    request.state.views_position = views.applied()
