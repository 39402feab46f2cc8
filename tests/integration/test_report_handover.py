"""Reports a dispatcher took but never acknowledged (it died) reach another dispatcher."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from adapters import redis_bus
from adapters.rabbitmq_bus import RabbitMQBus
from adapters.redis_bus import RedisStreamsBus
from application.messages import Report
from tests.bus_factories import open_bus
from tests.integration.test_bus_contract import receive_until
from tests.servers import amqp_url, redis_url


def attempt_reports() -> list[Report]:
    run, worker = uuid.uuid4(), uuid.uuid4()
    start = {
        "pid": 41,
        "hostname": "host-a",
        "started_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    }
    return [
        Report("started", run, 1, worker, **start),
        Report(
            "succeeded", run, 1, worker, exit_code=0, duration_seconds=0.2, output="ok", **start
        ),
    ]


def test_the_start_of_an_attempt_crosses_every_bus_with_its_final_report() -> None:
    for kind in ("memory", "redis", "rabbitmq"):
        with open_bus(kind) as bus:
            sent = attempt_reports()
            for report in sent:
                bus.publish_report(report)
            received = receive_until(lambda b=bus: b.receive_reports("d1", 10, 0.5), 2)
            assert [r.message for r in received] == sent, kind
            bus.ack_reports([r.token for r in received])


def test_redis_reports_pending_at_a_dead_dispatcher_are_claimed_by_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_bus, "RECLAIM_IDLE_MS", 500)
    monkeypatch.setattr(redis_bus, "RECLAIM_EVERY_SECONDS", 0.2)
    with open_bus("redis") as dying:
        assert isinstance(dying, RedisStreamsBus)
        sent = attempt_reports()
        for report in sent:
            dying.publish_report(report)
        taken = receive_until(lambda: dying.receive_reports("dispatcher-a", 10, 0.5), 2)
        assert len(taken) == 2
        dying.close()  # dispatcher-a dies holding them, unacknowledged
        survivor = RedisStreamsBus(redis_url(), prefix=dying.prefix)
        try:
            claimed = receive_until(lambda: survivor.receive_reports("dispatcher-b", 10, 0.2), 2)
            assert [r.message for r in claimed] == sent
            survivor.ack_reports([r.token for r in claimed])
            assert survivor.receive_reports("dispatcher-b", 10, 0.7) == []
        finally:
            survivor.close()


def test_rabbitmq_reports_unacknowledged_by_a_dead_dispatcher_are_redelivered() -> None:
    with open_bus("rabbitmq") as publisher:
        assert isinstance(publisher, RabbitMQBus)
        sent = attempt_reports()
        for report in sent:
            publisher.publish_report(report)
        dying = RabbitMQBus(amqp_url(), prefix=publisher.prefix, timeout=3.0)
        taken = receive_until(lambda: dying.receive_reports("dispatcher-a", 10, 0.5), 2)
        assert [r.message for r in taken] == sent
        dying.close()  # its connection closes with the reports unacknowledged
        redelivered = receive_until(lambda: publisher.receive_reports("dispatcher-b", 10, 0.5), 2)
        assert [r.message for r in redelivered] == sent
        publisher.ack_reports([r.token for r in redelivered])
