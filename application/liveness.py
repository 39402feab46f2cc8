"""Moved to application/dispatch/liveness.py; re-exported here for one release."""

from __future__ import annotations

from application.dispatch.liveness import (
    InMemoryLiveness,
    Lease,
    LivenessStore,
    collect_heartbeats,
)

__all__ = [
    "InMemoryLiveness",
    "Lease",
    "LivenessStore",
    "collect_heartbeats",
]
