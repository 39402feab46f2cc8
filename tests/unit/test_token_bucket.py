"""Token buckets: a burst, then the rate, and the exact wait until the next token."""

from __future__ import annotations

import pytest

from entrypoints.api.token_bucket import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_lets_a_burst_through_then_refuses_with_the_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, monotonic=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == pytest.approx(0.5)


def test_tokens_come_back_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, monotonic=clock)
    for _ in range(3):
        buckets.take("a")
    clock.now += 0.5
    assert buckets.take("a") == 0.0
    assert buckets.take("a") == pytest.approx(0.5)
    clock.now += 10  # long idle: full again, but never more than the burst
    assert [buckets.take("a") for _ in range(4)][-1] == pytest.approx(0.5)


def test_a_refused_request_takes_no_token() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, monotonic=clock)
    assert buckets.take("a") == 0.0
    for _ in range(5):
        assert buckets.take("a") == pytest.approx(1.0)
    clock.now += 1.0
    assert buckets.take("a") == 0.0


def test_keys_have_buckets_of_their_own() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, monotonic=Clock())
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    assert buckets.take("b") == 0.0


def test_wait_tells_without_taking() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=2, monotonic=clock)
    assert buckets.wait("a") == 0.0
    buckets.take("a")
    buckets.take("a")
    assert buckets.wait("a") == pytest.approx(1.0)
    assert buckets.wait("a") == pytest.approx(1.0)


def test_memory_is_bounded_by_forgetting_the_least_recently_seen_key() -> None:
    buckets = TokenBuckets(rate=1.0, burst=1, max_keys=2, monotonic=Clock())
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert len(buckets) == 2
    assert buckets.take("a") == 0.0, "a was forgotten: its bucket is full again"
    assert buckets.take("c") > 0


def test_a_bucket_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError):
        TokenBuckets(rate=0, burst=1)
    with pytest.raises(ValueError):
        TokenBuckets(rate=1, burst=0)


def test_several_tokens_are_taken_at_once_or_none_are() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=1.0, burst=5, monotonic=lambda: now[0])
    assert buckets.take("ns", 3) == 0.0
    assert buckets.take("ns", 3) == pytest.approx(1.0)  # two left: one more in a second
    assert buckets.take("ns", 2) == 0.0
    assert buckets.take("ns", 6) == pytest.approx(6.0)  # more than a burst never fits now
    now[0] = 5.0
    assert buckets.take("ns", 5) == 0.0
