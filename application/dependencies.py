"""Moved to application/dispatch/dependencies.py; re-exported here for one release."""

from __future__ import annotations

from application.dispatch.dependencies import (
    CLOSED_BATCHES_REMEMBERED,
    FINAL_STATUS,
    OPEN,
    SUCCEEDED,
    DependencyBook,
    Finished,
)

__all__ = [
    "CLOSED_BATCHES_REMEMBERED",
    "FINAL_STATUS",
    "OPEN",
    "SUCCEEDED",
    "DependencyBook",
    "Finished",
]
