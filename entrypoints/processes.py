"""Process mains: what `scheduler up` and `scheduler api` run."""

from __future__ import annotations

import logging
import signal
import socket
import threading

import uvicorn

from adapters.delivery_executor import DeliveryExecutor
from adapters.executors import default_executors
from application.dispatcher import Dispatcher
from application.membership import LocalMembership
from application.worker_agent import WorkerAgent, WorkerProfile
from entrypoints.api.app import create_api
from entrypoints.bootstrap import Container, build_container, default_worker_name
from entrypoints.settings import Settings

logger = logging.getLogger(__name__)

LEASE_HEARTBEATS = 3


class StartupError(Exception):
    """The process could not reach its database or create its tables."""


def _build(settings: Settings) -> Container:
    try:
        return build_container(settings)
    except Exception as error:  # any driver error here means "cannot start": say which store
        raise StartupError(
            f"cannot open {settings.masked_database_url}: {type(error).__name__}: {error}"
        ) from error  # a worker is live while it missed fewer than three heartbeats


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
    # uvicorn re-raises SIGTERM/SIGINT once it has shut down gracefully; with these handlers
    # in place that re-raise only records the stop, so the process can close its threads
    # and exit 0, as an orchestrator expects from a clean shutdown.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: container.stop.set())
    server.run()


def start_dispatcher(container: Container, stop: threading.Event) -> threading.Thread:
    """Run a dispatcher in a background thread of this process until `stop`."""
    settings = container.settings
    dispatcher = Dispatcher(
        container.app,
        container.bus,
        container.liveness,
        container.clock,
        container.log_wakeup,
        name=f"dispatcher:{socket.gethostname()}",
        lease_seconds=settings.worker.heartbeat_interval_seconds * LEASE_HEARTBEATS,
        batch_size=settings.dispatcher.assign_batch_size,
        poll_interval=settings.dispatcher.poll_interval_seconds,
        observer=container.metrics,
    )
    return container.start_thread("dispatcher", dispatcher.run_forever, stop)


def start_local_worker(container: Container, stop: threading.Event) -> threading.Thread:
    """Run a worker in a background thread of this process, registered in the log."""
    settings = container.settings.worker
    profile = WorkerProfile(
        name=settings.name or default_worker_name(),
        hostname=socket.gethostname(),
        executors=list(settings.executors),
        queues=list(settings.queues),
        max_concurrent_tasks=settings.max_concurrent_tasks,
    )
    agent = WorkerAgent(
        profile,
        container.bus,
        LocalMembership(container.app, container.liveness, container.clock),
        DeliveryExecutor(default_executors(output_tail_bytes=settings.output_tail_bytes)),
        heartbeat_interval=settings.heartbeat_interval_seconds,
    )
    agent.start()
    return container.start_thread(
        "worker", agent.run_forever, stop, settings.shutdown_grace_seconds
    )


def run_up(settings: Settings) -> None:
    """Everything in one process: API, projections, a dispatcher and a local worker."""
    container = _build(settings)
    worker_stop, dispatcher_stop = threading.Event(), threading.Event()
    worker: threading.Thread | None = None
    dispatcher: threading.Thread | None = None
    try:
        container.start_projections()
        dispatcher = start_dispatcher(container, dispatcher_stop)
        worker = start_local_worker(container, worker_stop)
        logger.info("scheduler up on http://%s:%s", settings.api.host, settings.api.port)
        serve_api(container)
    finally:
        # Stop in dependency order: the worker finishes (or cancels) its runs and reports,
        # the dispatcher records those reports, then projections and connections close.
        worker_stop.set()
        if worker is not None:
            worker.join(settings.worker.shutdown_grace_seconds + 5)
        dispatcher_stop.set()
        container.log_wakeup.ring()
        if dispatcher is not None:
            dispatcher.join(10)
        container.close()


def run_api(settings: Settings) -> None:
    """The API alone: commands to the log, queries from the views (projected elsewhere)."""
    container = _build(settings)
    try:
        serve_api(container)
    finally:
        container.close()
