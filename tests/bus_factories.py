"""Builds each bus adapter on its real server for tests, namespaced and cleaned up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from adapters.memory_bus import InMemoryBus
from adapters.rabbitmq_bus import RabbitMQBus
from adapters.redis_bus import RedisStreamsBus
from application.bus import Bus
from tests.servers import amqp_url, redis_url, server_missing, unique_prefix

BUS_KINDS = ["memory", "redis", "rabbitmq"]


@contextmanager
def open_bus(kind: str) -> Iterator[Bus]:
    """A fresh bus of one kind."""
    if kind == "memory":
        yield InMemoryBus()
        return
    if kind == "redis":
        bus = RedisStreamsBus(redis_url(), prefix=unique_prefix())
        try:
            bus.ping()
        except redis.RedisError as error:
            server_missing("Redis", error)
        try:
            yield bus
        finally:
            bus.delete_all()
            bus.close()
        return
    if kind == "rabbitmq":
        bus = RabbitMQBus(amqp_url(), prefix=unique_prefix(), timeout=3.0)
        try:
            bus.ping()
        except Exception as error:  # refused, timed out or rejected: all mean unreachable
            bus.close()
            server_missing("RabbitMQ", error)
        try:
            yield bus
        finally:
            try:
                bus.delete_all()
            finally:
                bus.close()
        return
    raise ValueError(kind)
