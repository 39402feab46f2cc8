"""Concurrency keys in the assignment plan: at most N runs per key out, keys taken in turn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from uuid import UUID

from application.dispatch.entries import OpenRun
from domain.concurrency_key import render_key

KEY_WAIT = "concurrency_key"  # the wait code of a run held by its key's limit

Key = tuple[UUID, str]  # (task, rendered key): keys are per task


def run_key(run: OpenRun) -> tuple[Key, int] | None:
    """The run's key and its limit, or None when its task has no key (or it is a shard)."""
    template = run.task.get("concurrency_key")
    if not isinstance(template, str) or not template or run.parent_run_id is not None:
        return None  # a shard is part of its broadcast run, which counts for the key
    limit = run.task.get("max_concurrency_per_key")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        limit = 1
    return (run.task_id, render_key(template, run.params)), limit


def interleave(pending: list[OpenRun]) -> list[OpenRun]:
    """Round-robin across keys: within a priority, every key's first run before any second."""
    keys = {run.run_id: run_key(run) for run in pending}
    if not any(keys.values()):
        return pending
    seen: Counter[Key] = Counter()
    turn: dict[UUID, int] = {}
    for run in pending:
        key = keys[run.run_id]
        turn[run.run_id] = seen[key[0]] if key else 0
        if key:
            seen[key[0]] += 1
    return sorted(pending, key=lambda r: (-r.priority_rank, turn[r.run_id], r.position))


class KeyCounts:
    """How many runs of each key are out, counting this round's reservations."""

    def __init__(self, out: Iterable[OpenRun]) -> None:
        self._out: Counter[Key] = Counter(key[0] for run in out if (key := run_key(run)))

    def blocked(self, run: OpenRun) -> str | None:
        """Why the run must wait for its key, or None when it may go out."""
        found = run_key(run)
        if found is None or self._out[found[0]] < found[1]:
            return None
        (_, value), limit = found
        return (
            f"concurrency_key: {self._out[found[0]]} runs with key {value!r} are out "
            f"(max_concurrency_per_key {limit})"
        )

    def took(self, run: OpenRun) -> None:
        """A run of the key goes out this round."""
        if (found := run_key(run)) is not None:
            self._out[found[0]] += 1
