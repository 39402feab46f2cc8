"""A namespace's trigger_rate_per_minute: runs requested by trigger, batch and backfill.

Each API process keeps its own buckets (a cluster of N API processes admits up to N times
the rate; docs/scaling.md), like the request rate limits (entrypoints/api/rate_limit.py).
The limits are read from the namespace_limits table at most every REFRESH_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol
from uuid import UUID

from fastapi import HTTPException

from entrypoints.api.rate_limit import retry_after
from entrypoints.api.token_bucket import TokenBuckets
from projections.namespaces import read_namespaces
from projections.ports import Database

logger = logging.getLogger(__name__)


class TaskNamespaces(Protocol):
    """The write side's tasks: the namespace of each."""

    def task_namespace(self, task_id: UUID) -> str: ...


REFRESH_SECONDS = 2.0  # a change of a limit reaches every API process within this (plus lag)


class NamespaceRates:
    """One bucket per limited namespace: a minute's worth of runs, refilled continuously."""

    def __init__(
        self,
        database: Database,
        monotonic: Callable[[], float] = time.monotonic,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._db = database
        self._monotonic = monotonic
        self._refresh_seconds = refresh_seconds
        self._rates: dict[str, int] = {}
        self._read_at = float("-inf")
        # A minute's worth of runs per namespace; a changed rate starts a full bucket.
        self._buckets: dict[str, TokenBuckets] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the limits again at the next use (tests; a process re-reads them by itself)."""
        self._read_at = float("-inf")

    def rate_of(self, namespace: str) -> int | None:
        """The namespace's trigger_rate_per_minute (None: unlimited), at most a little old."""
        now = self._monotonic()
        if now - self._read_at >= self._refresh_seconds:
            try:
                rows = read_namespaces(self._db)
            except Exception:  # the last limits stand while the table cannot be read
                logger.warning("cannot read the namespace_limits table", exc_info=True)
            else:
                self._rates = {
                    r["name"]: r["trigger_rate_per_minute"]
                    for r in rows
                    if r["trigger_rate_per_minute"] is not None
                }
            self._read_at = now
        return self._rates.get(namespace)

    def limits_any(self) -> bool:
        """Whether any namespace has a trigger rate (else no task need be looked up)."""
        self.rate_of("")
        return bool(self._rates)

    def charge_task(self, tasks: TaskNamespaces, task_id: UUID, runs: int = 1) -> None:
        """`charge` the namespace of a task (looked up only while some namespace is limited)."""
        if self.limits_any():
            self.charge(tasks.task_namespace(task_id), runs)

    def take(self, namespace: str, runs: int) -> tuple[int, float] | None:
        """Take `runs` tokens: None when taken (or unlimited), else (the rate, seconds to wait)."""
        rate = self.rate_of(namespace)
        if rate is None or runs <= 0:
            return None
        with self._lock:
            buckets = self._buckets.get(namespace)
            if buckets is None or buckets.burst != rate:
                buckets = TokenBuckets(rate / 60.0, rate, monotonic=self._monotonic)
                self._buckets[namespace] = buckets
        wait = buckets.take(namespace, runs)
        return (rate, wait) if wait > 0 else None

    def charge(self, namespace: str, runs: int = 1) -> None:
        """Take the tokens of `runs` new runs in the namespace, or refuse.

        Raises:
            HTTPException: 429 with Retry-After, naming the namespace and its rate.
        """
        refused = self.take(namespace, runs)
        if refused is None:
            return
        rate, wait = refused
        more = f"; a batch of {runs} runs is more than a minute's worth" if runs > rate else ""
        raise HTTPException(
            status_code=429,
            detail=f"namespace {namespace!r} is limited to {rate} triggered runs per minute"
            f" (trigger_rate_per_minute, per API process){more}; retry later",
            headers={"Retry-After": retry_after(wait)},
        )
