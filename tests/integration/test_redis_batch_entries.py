"""Redis batch entries: many messages per stream entry, read, acked and buried item by item."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from functools import cache
from typing import Any

import orjson
import pytest
import redis

from adapters.redis_bus import RedisStreamsBus
from adapters.redis_entries import ENTRY_MAX
from application.messages import Control, Delivery, Report
from tests.bus_factories import open_bus
from tests.servers import redis_url


@pytest.fixture
def bus() -> Iterator[RedisStreamsBus]:
    """A Redis bus on a fresh prefix, its keys deleted after."""
    with open_bus("redis") as opened:
        assert isinstance(opened, RedisStreamsBus)
        yield opened


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(redis_url())


def raw(bus: RedisStreamsBus) -> redis.Redis:
    """A plain client on the bus's server, to see and write entries as they are."""
    return _client()


def deliveries(worker: uuid.UUID, n: int) -> list[Delivery]:
    return [
        Delivery(uuid.uuid4(), 1, worker, "t", "callable", "m:f", params={"i": str(i)})
        for i in range(n)
    ]


def reports(n: int) -> list[Report]:
    worker = uuid.uuid4()
    return [Report("succeeded", uuid.uuid4(), 1, worker, output=str(i)) for i in range(n)]


def pending(bus: RedisStreamsBus) -> int:
    return int(raw(bus).xpending(f"{bus.prefix}:reports", "dispatchers")["pending"])


def test_a_batch_publish_packs_up_to_entry_max_messages_per_entry(bus: RedisStreamsBus) -> None:
    worker = uuid.uuid4()
    bus.publish_reports(reports(ENTRY_MAX * 2 + 50))
    bus.publish_inbox_messages(deliveries(worker, 3))
    client = raw(bus)
    assert client.xlen(f"{bus.prefix}:reports") == 3
    entries = client.xrange(bus.inbox_key(worker))
    assert len(entries) == 1 and entries[0][1][b"t"] == b"delivery"
    assert len(orjson.loads(entries[0][1][b"b"])) == 3


def test_with_batch_entries_off_every_entry_holds_one_message(bus: RedisStreamsBus) -> None:
    # The form every earlier release reads, for a rolling upgrade.
    single = RedisStreamsBus(redis_url(), prefix=bus.prefix, batch_entries=False)
    try:
        single.publish_reports(reports(5))
        entries = raw(bus).xrange(f"{bus.prefix}:reports")
        assert len(entries) == 5 and all(set(fields) == {b"m"} for _id, fields in entries)
        assert len(bus.receive_reports("d1", 10, 0.5)) == 5
    finally:
        single.close()


def test_an_entry_is_acked_only_once_every_report_in_it_is(bus: RedisStreamsBus) -> None:
    bus.receive_reports("d1", 1, timeout=0)  # the group exists
    sent = reports(10)
    bus.publish_reports(sent)
    received = bus.receive_reports("d1", 10, 0.5)
    assert [r.message for r in received] == sent
    bus.ack_reports([r.token for r in received[:6]])
    assert pending(bus) == 1  # four reports are not recorded yet: the entry stays
    bus.ack_reports([r.token for r in received[6:]])
    assert pending(bus) == 0
    assert raw(bus).xlen(f"{bus.prefix}:reports") == 0


def test_one_bad_report_in_a_batch_is_buried_alone(bus: RedisStreamsBus) -> None:
    bus.receive_reports("d1", 1, timeout=0)
    good = reports(3)
    items: list[Any] = [orjson.loads(r.model_dump_json()) for r in good]
    items.insert(1, {"kind": "succeeded", "run_id": "not-a-uuid", "attempt": 1})
    raw(bus).xadd(f"{bus.prefix}:reports", {"t": "report", "b": orjson.dumps(items)})
    received = bus.receive_reports("d1", 10, 0.5)
    assert [r.message for r in received] == good
    dead = bus.dead_letters()
    assert len(dead) == 1 and dead[0]["id"].endswith("#1") and "run_id" in dead[0]["error"]
    bus.ack_reports([r.token for r in received])
    assert pending(bus) == 0  # the buried item counted as done


def test_a_batch_of_deliveries_on_the_reports_stream_is_unreadable(bus: RedisStreamsBus) -> None:
    bus.receive_reports("d1", 1, timeout=0)
    worker = uuid.uuid4()
    bus._add_many(  # what a misconfigured sender would write
        [(f"{bus.prefix}:reports", {"t": b"delivery", "b": b"[]"})], 100
    )
    bus.publish_reports(reports(1))
    assert len(bus.receive_reports("d1", 10, 0.5)) == 1
    assert "not expected" in bus.dead_letters()[0]["error"]
    assert bus.receive_inbox(worker, 10, 0.1) == []


def test_an_inbox_read_stops_inside_an_entry_and_goes_on_from_there(
    bus: RedisStreamsBus,
) -> None:
    worker = uuid.uuid4()
    sent: list[Delivery | Control] = [*deliveries(worker, 70), Control("drain", worker)]
    bus.publish_inbox_messages(sent)
    bus.publish_inbox_messages(deliveries(worker, 5))
    got: list[Any] = []
    sizes = []
    while batch := bus.receive_inbox(worker, 30, 0.2):
        sizes.append(len(batch))
        got += batch
    # Never more than asked; a read that ends an entry may stop there.
    assert sizes[:2] == [30, 30] and max(sizes) == 30 and sum(sizes) == 76
    assert got[:71] == sent and len(got) == 76 and len({id(m) for m in got}) == 76


def test_an_unreadable_inbox_item_is_buried_and_the_rest_delivered(bus: RedisStreamsBus) -> None:
    worker = uuid.uuid4()
    good = deliveries(worker, 2)
    items: list[Any] = [orjson.loads(d.model_dump_json()) for d in good]
    items.insert(1, {"run_id": "nope"})
    raw(bus).xadd(bus.inbox_key(worker), {"t": "delivery", "b": orjson.dumps(items)})
    assert bus.receive_inbox(worker, 10, 0.5) == good
    assert bus.dead_letters()[0]["id"].endswith("#1")
    assert bus.receive_inbox(worker, 10, 0.1) == []


def test_a_first_read_that_gets_more_entries_than_it_can_hold_loses_none(
    bus: RedisStreamsBus,
) -> None:
    # A new reader does not know the entries' size yet, so XREAD hands it all three.
    worker = uuid.uuid4()
    sent = deliveries(worker, ENTRY_MAX * 3)
    bus.publish_inbox_messages(sent)
    got = [bus.receive_inbox(worker, ENTRY_MAX, 0.2) for _ in range(4)]
    assert [len(batch) for batch in got] == [ENTRY_MAX, ENTRY_MAX, ENTRY_MAX, 0]
    assert [m for batch in got for m in batch] == sent
