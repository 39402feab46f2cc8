"""Retry backoff: exponential, capped, with jitter; the random draw is an input."""

from __future__ import annotations

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
