"""Group commit: concurrent saves share one insert; a conflict fails only its own save."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder

from application.commands.group_commit import GroupCommit


def row(aggregate_id: uuid.UUID, version: int = 1) -> StoredEvent:
    return StoredEvent(aggregate_id, version, "t", b"{}")


class GatedRecorder:
    """A real in-memory recorder whose first insert waits until `release` is set."""

    def __init__(self) -> None:
        self.recorder = POPOApplicationRecorder()
        self.inserts: list[int] = []  # events per insert attempted
        self.release = threading.Event()
        self.entered = threading.Event()

    def insert(self, events: list[StoredEvent]) -> Sequence[int] | None:
        self.inserts.append(len(events))
        if len(self.inserts) == 1:
            self.entered.set()
            assert self.release.wait(10)
        return self.recorder.insert_events(events)


def in_thread(
    target: Callable[[], object], outcomes: dict[str, object], name: str
) -> threading.Thread:
    def run() -> None:
        try:
            outcomes[name] = target()
        except Exception as error:  # recorded for the assertions
            outcomes[name] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_saves_queued_behind_a_write_go_in_together_and_a_conflict_fails_only_its_own() -> None:
    store = GatedRecorder()
    commit = GroupCommit(store.insert, max_delay=0)
    first, taken = uuid.uuid4(), uuid.uuid4()
    outcomes: dict[str, object] = {}
    threads = [in_thread(lambda: commit.insert([row(first), row(taken)]), outcomes, "first")]
    assert store.entered.wait(10)
    later = {
        "b": [row(uuid.uuid4())],
        "c": [row(taken)],
        "d": [row(uuid.uuid4()), row(uuid.uuid4(), 1)],
    }
    for name, rows in later.items():
        threads.append(in_thread(lambda rows=rows: commit.insert(rows), outcomes, name))
        wait_until(lambda: commit.pending() == len(threads) - 1)
    store.release.set()
    for thread in threads:
        thread.join(10)

    assert isinstance(outcomes["c"], IntegrityError), "c saved `taken` again: its own conflict"
    assert outcomes["first"] == [1, 2]
    assert outcomes["b"] == [3] and outcomes["d"] == [4, 5], "the others were saved"
    # first alone; b, c, d together (conflicts); then in halves: b, then c + d (conflicts),
    # then c and d alone
    assert store.inserts == [2, 4, 1, 3, 1, 2]
    assert commit.transactions == 6 and commit.saves == 4
    assert [n.originator_id for n in store.recorder.select_notifications(1, 10)] == [
        first,
        taken,
        later["b"][0].originator_id,
        later["d"][0].originator_id,
        later["d"][1].originator_id,
    ], "every event saved once"


def test_two_saves_of_one_aggregate_version_in_one_write_cost_only_the_later_its_save() -> None:
    store = GatedRecorder()
    commit = GroupCommit(store.insert, max_delay=0)
    contested = uuid.uuid4()
    outcomes: dict[str, object] = {}
    threads = [in_thread(lambda: commit.insert([row(uuid.uuid4())]), outcomes, "first")]
    assert store.entered.wait(10)
    later = {"b": [row(contested)], "c": [row(uuid.uuid4())], "d": [row(contested)]}
    for name, rows in later.items():
        threads.append(in_thread(lambda rows=rows: commit.insert(rows), outcomes, name))
        wait_until(lambda: commit.pending() == len(threads) - 1)
    store.release.set()
    for thread in threads:
        thread.join(10)

    assert (outcomes["b"], outcomes["c"]) == ([2], [3])
    assert isinstance(outcomes["d"], IntegrityError)
    assert store.inserts == [1, 2, 1], "b and c together, then d alone"


def test_an_error_that_is_no_conflict_fails_every_save_of_the_write() -> None:
    def down(events: list[StoredEvent]) -> Sequence[int] | None:
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        GroupCommit(down).insert([row(uuid.uuid4())])


def test_saves_arriving_during_a_write_share_the_next_one() -> None:
    recorder = POPOApplicationRecorder()

    def round_trip(events: list[StoredEvent]) -> Sequence[int] | None:
        time.sleep(0.005)  # what a database round trip costs, about
        return recorder.insert_events(events)

    commit = GroupCommit(round_trip, max_saves=8)
    outcomes: dict[str, object] = {}
    barrier = threading.Barrier(16)

    def save() -> object:
        barrier.wait()
        return commit.insert([row(uuid.uuid4())])

    threads = [in_thread(save, outcomes, str(i)) for i in range(16)]
    for thread in threads:
        thread.join(10)
    positions = sorted(p for ps in outcomes.values() for p in ps)  # type: ignore[attr-defined]
    assert positions == list(range(1, 17)), "each save once, each with its own position"
    assert commit.saves == 16 and commit.transactions <= 4, commit.transactions


def test_a_lone_writer_never_waits_for_company() -> None:
    recorder = POPOApplicationRecorder()
    commit = GroupCommit(recorder.insert_events, max_delay=1.0)
    began = time.monotonic()
    for _ in range(20):
        commit.insert([row(uuid.uuid4())])
    assert time.monotonic() - began < 0.5 and commit.transactions == 20
