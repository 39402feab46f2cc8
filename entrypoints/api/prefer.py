"""`Prefer: return=minimal` (RFC 7240): a command answers without waiting for the views.

Read once per request by an app-wide dependency; `Views.wait` asks `wants_fresh_views`.
The request's own context holds it (FastAPI runs sync routes in a copy of that context).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Annotated

from fastapi import Header

MINIMAL = "return=minimal"
_minimal: ContextVar[bool] = ContextVar("prefer_return_minimal", default=False)


async def read_prefer(
    prefer: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Commands: `return=minimal` answers as soon as the events are saved,"
            " without waiting for the read views (the answer is then marked"
            " `X-View-Stale: true` and may be older than the command).",
        ),
    ] = None,
) -> None:
    """Note whether this request prefers a minimal, unwaited answer."""
    preferences = {part.strip().lower() for part in (prefer or "").replace(";", ",").split(",")}
    _minimal.set(MINIMAL in preferences)


def wants_fresh_views() -> bool:
    """Whether this request's answer should wait for the views (no `Prefer: return=minimal`)."""
    return not _minimal.get()
