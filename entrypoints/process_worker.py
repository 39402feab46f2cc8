"""`scheduler worker`: runs what the bus delivers; needs no database and imports no driver."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from application.circuit_breaker import BreakerRegistry
from entrypoints.bus_factory import build_guarded_bus
from entrypoints.heap import settle_heap
from entrypoints.live_config import LiveConfig
from entrypoints.logging_setup import log_transport, ship_logs_to, stop_shipping
from entrypoints.process_support import (
    StartupError,
    on_signals,
    serve_metrics,
    start_reloading,
    task_user,
)
from entrypoints.redaction import redact
from entrypoints.tracer_setup import open_tracer
from entrypoints.worker_assembly import make_worker, open_task_groups, worker_metrics

logger = logging.getLogger(__name__)


def run_worker(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """A worker process: needs only the bus (no database credentials)."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    if settings.message_queue.type == "memory":
        raise StartupError(
            "message_queue.type is 'memory': a separate worker process needs "
            "'redis' or 'rabbitmq' (set [message_queue] type and url)"
        )
    user = task_user(settings)
    breakers = BreakerRegistry()
    bus = build_guarded_bus(settings, breakers)
    try:
        bus.ping()
    except Exception as error:
        bus.close()
        raise StartupError(
            redact(f"cannot reach the message queue: {error}", settings.connection_secrets)
        ) from None
    stop = threading.Event()
    on_signals(stop.set)  # before anything starts: an early SIGTERM still ends cleanly
    ledger = open_task_groups()
    tracer = open_tracer(settings, "worker")
    # No database: the records go over a bus connection of their own to a dispatcher.
    logs = log_transport(settings)
    try:
        if logs is not None:
            ship_logs_to(logs.publish_logs)
        agent = make_worker(settings, bus, ledger, user, tracer)
        registry = worker_metrics(agent, breakers)
        reloader.register_metrics(registry)
        serve_metrics(settings, registry)
        agent.start()
        settle_heap()
        logger.info("worker %s (%s) running", agent.profile.name, agent.worker_id)
        agent.run_forever(stop, settings.worker.shutdown_grace_seconds)
    finally:
        stop_shipping()
        if logs is not None:
            logs.close()
        ledger.close()
        bus.close()
        tracer.shutdown()
