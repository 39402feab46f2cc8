"""Process mains: `scheduler up`, `api`, `dispatcher`, `worker` and `projector`."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn
from prometheus_client import CollectorRegistry, start_http_server

from adapters.executors.task_groups import TaskGroupLedger
from application.circuit_breaker import BreakerRegistry
from entrypoints.api.app import create_api
from entrypoints.bootstrap import (
    Container,
    build_container,
    build_guarded_bus,
    make_dispatcher,
    make_worker,
    open_task_groups,
    start_audit_chain,
    worker_metrics,
)
from entrypoints.reload import ConfigReloader, reload_on_sighup
from entrypoints.settings import Settings

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """The process could not reach its database or create its tables."""


def _build(settings: Settings, process: str) -> Container:
    try:
        return build_container(settings, process=process)
    except Exception as error:  # any driver error here means "cannot start": say which store
        raise StartupError(
            f"cannot open {settings.masked_database_url}: {type(error).__name__}: {error}"
        ) from error


def _on_signals(handler: Callable[[], None]) -> None:
    # Also absorbs uvicorn's re-raise of SIGTERM/SIGINT after its graceful shutdown, so the
    # process closes its threads and exits 0, as an orchestrator expects.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: handler())


def serve_api(container: Container) -> None:
    """Serve HTTP until SIGINT/SIGTERM (uvicorn handles the signals)."""
    settings = container.settings
    config = uvicorn.Config(
        create_api(container),
        host=settings.api.host,
        port=settings.api.port,
        log_level=settings.observability.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    _on_signals(lambda: None)  # the caller stops the rest in order once serving ends
    server.run()


def run_up(settings: Settings, config_path: Path | None = None) -> None:
    """Everything in one process: API, projections, a dispatcher and a local worker."""
    reload_on_sighup(ConfigReloader(settings, config_path))
    container = _build(settings, "up")
    worker_stop, dispatcher_stop = threading.Event(), threading.Event()
    worker_thread: threading.Thread | None = None
    dispatcher_thread: threading.Thread | None = None
    ledger: TaskGroupLedger | None = None
    try:
        container.start_heartbeat_collector()
        container.start_projections()
        start_audit_chain(container)
        dispatcher = make_dispatcher(container)
        dispatcher_thread = container.start_thread(
            "dispatcher", dispatcher.run_forever, dispatcher_stop
        )
        ledger = open_task_groups()
        agent = make_worker(settings, container.bus, ledger)
        agent.start()
        worker_thread = container.start_thread(
            "worker", agent.run_forever, worker_stop, settings.worker.shutdown_grace_seconds
        )
        logger.info("scheduler up on http://%s:%s", settings.api.host, settings.api.port)
        serve_api(container)
    finally:
        # Stop in dependency order: the worker finishes (or cancels) its runs and reports,
        # the dispatcher records those reports, then projections and connections close.
        worker_stop.set()
        if worker_thread is not None:
            worker_thread.join(settings.worker.shutdown_grace_seconds + 5)
        dispatcher_stop.set()
        container.log_wakeup.ring()
        if dispatcher_thread is not None:
            dispatcher_thread.join(10)
        if ledger is not None:
            ledger.close()
        container.close()


def run_api(settings: Settings, config_path: Path | None = None) -> None:
    """The API alone: commands to the log, queries from the views (projected elsewhere)."""
    reload_on_sighup(ConfigReloader(settings, config_path))
    container = _build(settings, "api")
    try:
        container.start_heartbeat_collector()
        serve_api(container)
    finally:
        container.close()


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> None:
    """Expose /metrics for a process without the API, when a metrics port is set."""
    port = settings.observability.metrics_port
    if port and settings.observability.metrics_enabled:
        start_http_server(port, addr=settings.api.host, registry=registry)
        logger.info("metrics on http://%s:%s/metrics", settings.api.host, port)


def _wait_for_signal(stop: threading.Event) -> None:
    _on_signals(stop.set)
    while not stop.wait(1.0):
        pass


def run_dispatcher(settings: Settings, config_path: Path | None = None) -> None:
    """A dispatcher process: follows the log, assigns, records reports, recovers."""
    reload_on_sighup(ConfigReloader(settings, config_path))
    container = _build(settings, "dispatcher")
    try:
        container.start_heartbeat_collector()
        dispatcher = make_dispatcher(container)
        container.start_thread("dispatcher", dispatcher.run_forever, container.stop)
        serve_metrics(settings, container.metrics.registry)
        logger.info("dispatcher %s running", dispatcher.name)
        _wait_for_signal(container.stop)
    finally:
        container.close()


def run_projector(settings: Settings, config_path: Path | None = None) -> None:
    """A projector process: keeps every read table up to date with the log."""
    reload_on_sighup(ConfigReloader(settings, config_path))
    container = _build(settings, "projector")
    try:
        container.start_projections()
        start_audit_chain(container)
        serve_metrics(settings, container.metrics.registry)
        logger.info("projector running: %s", ", ".join(container.projection_names))
        _wait_for_signal(container.stop)
    finally:
        container.close()


def run_worker(settings: Settings, config_path: Path | None = None) -> None:
    """A worker process: needs only the bus (no database credentials)."""
    reload_on_sighup(ConfigReloader(settings, config_path))
    if settings.message_queue.type == "memory":
        raise StartupError(
            "message_queue.type is 'memory': a separate worker process needs "
            "'redis' or 'rabbitmq' (set [message_queue] type and url)"
        )
    breakers = BreakerRegistry()
    bus = build_guarded_bus(settings, breakers)
    try:
        bus.ping()
    except Exception as error:
        raise StartupError(f"cannot reach the message queue: {error}") from error
    stop = threading.Event()
    ledger = open_task_groups()
    try:
        agent = make_worker(settings, bus, ledger)
        serve_metrics(settings, worker_metrics(agent, breakers))
        _on_signals(stop.set)
        agent.start()
        logger.info("worker %s (%s) running", agent.profile.name, agent.worker_id)
        agent.run_forever(stop, settings.worker.shutdown_grace_seconds)
    finally:
        ledger.close()
        bus.close()
