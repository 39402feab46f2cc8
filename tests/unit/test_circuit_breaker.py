"""Circuit breakers open after failures, back off exponentially and close on success."""

from __future__ import annotations

import pytest

from application.circuit_breaker import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitOpenError,
    CircuitState,
)


class Ticker:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def breaker(ticker: Ticker) -> CircuitBreaker:
    return CircuitBreaker("db", BreakerPolicy(3, 1.0, 8.0), monotonic=ticker)


def fail(b: CircuitBreaker) -> None:
    with pytest.raises(ConnectionError):
        b.call(_raise)


def _raise() -> None:
    raise ConnectionError("refused")


def test_it_opens_after_the_threshold_and_fails_fast() -> None:
    ticker = Ticker()
    b = breaker(ticker)
    for _ in range(3):
        fail(b)
    assert b.state is CircuitState.OPEN
    with pytest.raises(CircuitOpenError, match=r"retry in 1\.0s"):
        b.call(lambda: "never called")


def test_after_the_backoff_one_trial_goes_through_and_success_closes() -> None:
    ticker = Ticker()
    b = breaker(ticker)
    for _ in range(3):
        fail(b)
    ticker.now = 1.0
    assert b.state is CircuitState.HALF_OPEN
    b.allow()
    with pytest.raises(CircuitOpenError):
        b.allow()  # only one trial at a time
    b.record_success()
    assert b.state is CircuitState.CLOSED
    assert b.call(lambda: 42) == 42


def test_a_failed_trial_doubles_the_backoff_up_to_the_ceiling() -> None:
    ticker = Ticker()
    b = breaker(ticker)
    for _ in range(3):
        fail(b)
    waits = []
    for _ in range(5):
        ticker.now += b.retry_after()
        fail(b)
        waits.append(b.retry_after())
    assert waits == [2.0, 4.0, 8.0, 8.0, 8.0]


def test_successes_reset_the_failure_count() -> None:
    b = breaker(Ticker())
    fail(b)
    fail(b)
    b.call(lambda: None)
    fail(b)
    assert b.state is CircuitState.CLOSED
