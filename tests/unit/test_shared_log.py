"""The runners' shared window of the log: one read serves every runner, never a stale head."""

from __future__ import annotations

import threading
from typing import Any

from projections.shared_log import FRESH_SECONDS, SharedLogReads


class ListLog:
    """An append-only log in memory, counting the reads that reach it."""

    def __init__(self, count: int = 0) -> None:
        self.rows: list[tuple[int, Any]] = []
        self.reads: list[tuple[int, int]] = []
        self.append(count)

    def append(self, count: int) -> None:
        start = len(self.rows)
        self.rows += [(p, f"event-{p}") for p in range(start + 1, start + count + 1)]

    def read_log(self, after: int, limit: int) -> list[tuple[int, Any]]:
        self.reads.append((after, limit))
        return [row for row in self.rows if row[0] > after][:limit]

    def head_position(self) -> int:
        return len(self.rows)


def test_runners_at_one_position_share_one_read() -> None:
    log = ListLog(10)
    shared = SharedLogReads(log)
    first = shared.read_log(0, 5)
    assert first == log.rows[:5]
    assert shared.read_log(0, 5) == first  # the second runner: served from the window
    assert shared.read_log(2, 3) == log.rows[2:5]
    assert log.reads == [(0, 5)] and shared.served == 8


def test_a_request_past_the_window_reads_on_from_its_end() -> None:
    log = ListLog(4)
    shared = SharedLogReads(log)
    assert shared.read_log(0, 10) == log.rows  # the head was 4
    log.append(3)  # saved since: a runner asking now must see them
    assert shared.read_log(0, 10) == log.rows
    assert log.reads == [(0, 10), (4, 6)]  # only the new rows were read
    assert shared.read_log(4, 10) == log.rows[4:]
    assert log.reads[-1] == (7, 7)  # the head is re-read for the rest, never assumed


def test_the_head_is_not_read_again_while_no_save_was_heard() -> None:
    log, rings, now = ListLog(4), [0], [100.0]
    shared = SharedLogReads(log, rung=lambda: rings[0], monotonic=lambda: now[0])
    assert shared.read_log(0, 10) == log.rows
    assert shared.read_log(0, 10) == log.rows  # no ring since: the head is known
    assert log.reads == [(0, 10)]
    log.append(2)
    rings[0] += 1  # a save was heard
    assert shared.read_log(0, 10) == log.rows
    assert log.reads[-1] == (4, 6)
    log.append(1)  # saved, but its ring was lost
    now[0] += 2 * FRESH_SECONDS  # a runner's timer, later: the head is read again
    assert shared.read_log(0, 10) == log.rows
    assert log.reads[-1] == (6, 4)


def test_a_runner_behind_the_window_reads_alone_and_keeps_the_window() -> None:
    log = ListLog(30)
    shared = SharedLogReads(log, capacity=10)
    shared.read_log(0, 10)
    shared.read_log(10, 10)  # the window keeps the last 10: (10, 20]
    assert shared.read_log(3, 4) == log.rows[3:7]
    assert log.reads[-1] == (3, 4)
    assert shared.read_log(12, 3) == log.rows[12:15]
    assert log.reads[-1] == (3, 4)  # still served from the window


def test_a_runner_ahead_of_the_window_starts_a_new_one() -> None:
    log = ListLog(30)
    shared = SharedLogReads(log)
    shared.read_log(0, 5)
    assert shared.read_log(20, 5) == log.rows[20:25]
    assert shared.read_log(22, 3) == log.rows[22:25]
    assert log.reads == [(0, 5), (20, 5)]


def test_an_empty_log_is_read_again_each_time() -> None:
    log = ListLog()
    shared = SharedLogReads(log)
    assert shared.read_log(0, 5) == []
    log.append(2)
    assert shared.read_log(0, 5) == log.rows
    assert shared.head_position() == 2


def test_concurrent_runners_each_get_the_whole_log_in_order() -> None:
    log = ListLog(2_000)
    shared = SharedLogReads(log, capacity=300)
    seen: dict[int, list[int]] = {}

    def follow(name: int) -> None:
        position, mine = 0, []
        while batch := shared.read_log(position, 100 + name):
            mine += [p for p, _event in batch]
            position = batch[-1][0]
        seen[name] = mine

    threads = [threading.Thread(target=follow, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(mine == list(range(1, 2_001)) for mine in seen.values())
    assert len(log.reads) < 5 * 20  # reading alone, each would have needed ~20 reads
