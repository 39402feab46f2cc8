"""Moved to application/dispatch/routing.py; re-exported here for one release."""

from __future__ import annotations

from application.dispatch.routing import (
    Candidate,
    RoundRobin,
    choose_worker,
    rendezvous_score,
)

__all__ = [
    "Candidate",
    "RoundRobin",
    "choose_worker",
    "rendezvous_score",
]
