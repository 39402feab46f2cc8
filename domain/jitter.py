"""Per-schedule jitter: a slot's run is requested a deterministic moment after its nominal time."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

NO_JITTER = timedelta(0)


def jitter_offset(task_id: UUID, nominal: datetime, jitter_seconds: Any) -> timedelta:
    """How long after `nominal` the slot fires: 0 to `jitter_seconds`, in milliseconds.

    A hash of the task and the slot, not a random draw: every dispatcher, the views and a
    replay compute the same moment, and the run keeps its id `uuid5(task, nominal)`.
    """
    if not (jitter_seconds := jitter_seconds_of({"jitter_seconds": jitter_seconds})):
        return NO_JITTER
    key = f"{task_id}/{nominal.astimezone(UTC).isoformat()}".encode()
    draw = int.from_bytes(hashlib.sha256(key).digest()[:8], "big")
    return timedelta(milliseconds=draw % (jitter_seconds * 1_000 + 1))


def jitter_seconds_of(spec: Mapping[str, Any]) -> int:
    """A definition's jitter; one the spec did not validate (an old event) means none."""
    value = spec.get("jitter_seconds")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
