"""Retry backoff: exponential, capped, with jitter; the random draw is an input."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

JITTER = 0.2  # ±20 %: enough to spread a thundering herd of retries


def backoff_delay(
    failures: int,
    base_seconds: float,
    multiplier: float,
    max_seconds: float,
    draw: float,
    jitter: float = JITTER,
) -> float:
    """Seconds to wait before the retry after `failures` failed attempts (1 = first retry).

    `draw` is a uniform random number in [0, 1) supplied by the caller, so that the domain
    stays deterministic: raw = base × multiplier^(failures−1), capped at max_seconds, then
    spread by ±jitter and capped again.
    """
    raw = min(base_seconds * multiplier ** max(failures - 1, 0), max_seconds)
    spread = raw * (1 - jitter + 2 * jitter * min(max(draw, 0.0), 1.0))
    return max(0.0, min(spread, max_seconds))


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how soon a failed run is tried again: a definition's retry_* fields."""

    count: int = 0  # retries after the first attempt
    delay_seconds: float = 0.0
    backoff: float = 1.0
    max_delay_seconds: float = 0.0

    @classmethod
    def of(cls, definition: Mapping[str, Any]) -> RetryPolicy:
        """The policy a stored definition names; a field it lacks or leaves empty means none."""
        return cls(
            count=int(definition.get("retry_count") or 0),
            delay_seconds=float(definition.get("retry_delay_seconds") or 0),
            backoff=float(definition.get("retry_backoff") or 1),
            max_delay_seconds=float(definition.get("retry_max_delay_seconds") or 0),
        )

    def delay_after(self, failures: int, draw: float) -> float:
        """Seconds before the retry that follows `failures` failed attempts (see backoff_delay)."""
        return backoff_delay(
            failures, self.delay_seconds, self.backoff, self.max_delay_seconds, draw
        )
