"""The message bus named by `[message_queue] type`, alone or behind its circuit breaker."""

from __future__ import annotations

from adapters.guarded_bus import GuardedBus
from adapters.tls import TlsFiles
from application.bus import Bus
from application.circuit_breaker import BreakerRegistry
from application.ports import Wakeup
from entrypoints.settings import Settings


def build_bus(settings: Settings, reports_wakeup: Wakeup | None = None) -> Bus:
    """The bus named by `[message_queue] type`."""
    # Each driver is imported only by the processes that use it.
    queue = settings.message_queue
    tls = TlsFiles(queue.tls_ca_file, queue.tls_cert_file, queue.tls_key_file)
    if queue.type == "redis":
        from adapters.redis_bus import RedisStreamsBus

        return RedisStreamsBus(
            queue.effective_url or "redis://127.0.0.1:6379/0",
            queue.prefix,
            tls=tls,
            batch_entries=queue.batch_entries,
        )
    if queue.type == "rabbitmq":
        from adapters.rabbitmq_bus import RabbitMQBus

        return RabbitMQBus(
            queue.effective_url or "amqp://guest:guest@127.0.0.1:5672/", queue.prefix, tls=tls
        )
    from adapters.memory_bus import InMemoryBus

    return InMemoryBus(reports_wakeup=reports_wakeup)


def build_guarded_bus(
    settings: Settings, breakers: BreakerRegistry, reports_wakeup: Wakeup | None = None
) -> GuardedBus:
    """The configured bus behind the process's `bus` circuit breaker."""
    return GuardedBus(build_bus(settings, reports_wakeup), breakers.get("bus"))
