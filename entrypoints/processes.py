"""The process mains that serve HTTP: `scheduler up` (everything in one) and `scheduler api`.

The others have modules of their own, which import only what they use: process_dispatcher.py,
process_projector.py and process_worker.py (no database at all).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from adapters.executors.task_groups import TaskGroupLedger
from adapters.jwt_verifier import JwtKeyError
from entrypoints.alerting import start_notifier
from entrypoints.api.app import build_jwt_verifier, create_api
from entrypoints.api.authentication import exposure_problem
from entrypoints.bootstrap import (
    Container,
    make_dispatcher,
    start_audit_chain,
    start_retention,
)
from entrypoints.heap import settle_heap
from entrypoints.live_config import LiveConfig
from entrypoints.logging_setup import (
    LogTransport,
    ship_process_logs,
    stop_shipping,
)
from entrypoints.process_dispatcher import retune_on_reload
from entrypoints.process_support import (
    StartupError,
    on_signals,
    open_container,
    start_reloading,
    task_user,
)
from entrypoints.settings import Settings
from entrypoints.worker_assembly import make_worker, open_task_groups

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def check_api_security(settings: Settings) -> None:
    """Refuse to serve the API anonymously beyond loopback, or with unusable JWT keys."""
    problem = exposure_problem(settings.auth, settings.api.host)
    if problem:
        raise StartupError(f"refusing to start: {problem}")
    try:
        build_jwt_verifier(settings.auth)
    except JwtKeyError as error:
        raise StartupError(f"refusing to start: [auth] JWT key: {error}") from None


def serve_api(container: Container, live: LiveConfig) -> None:
    """Serve HTTP until SIGINT/SIGTERM (uvicorn handles the signals)."""
    settings = container.settings
    config = uvicorn.Config(
        create_api(container, live),
        host=settings.api.host,
        port=settings.api.port,
        log_level=settings.observability.log_level.lower(),
        # No handlers of uvicorn's own: its loggers propagate to the root's, which
        # configure_logging set up (format, masking, shipping).
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        # X-Forwarded-* are read by entrypoints/api/client_address.py, from [api]
        # trusted_proxies only; uvicorn's own reading would trust 127.0.0.1 behind our back.
        proxy_headers=False,
        server_header=False,  # no "server: uvicorn": the edge names no internals
    )
    server = uvicorn.Server(config)
    on_signals(lambda: None)  # the caller stops the rest in order once serving ends
    server.run()


def run_up(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """Everything in one process: API, projections, a dispatcher and a local worker."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    check_api_security(settings)
    user = task_user(settings)  # refuse to start before opening anything
    container = open_container(settings, "up")
    reloader.register_metrics(container.metrics.registry)
    worker_stop, dispatcher_stop = threading.Event(), threading.Event()
    worker_thread: threading.Thread | None = None
    dispatcher_thread: threading.Thread | None = None
    ledger: TaskGroupLedger | None = None
    logs: LogTransport | None = None
    try:
        logs = ship_process_logs(container, collect=True)
        container.start_heartbeat_collector()
        container.start_projections()
        start_audit_chain(container)
        start_notifier(container)
        dispatcher = make_dispatcher(container)
        start_retention(container, dispatcher.name)
        retune_on_reload(reloader, dispatcher)
        dispatcher_thread = container.start_thread(
            "dispatcher", dispatcher.run_forever, dispatcher_stop
        )
        ledger = open_task_groups()
        agent = make_worker(settings, container.bus, ledger, user, container.tracer)
        agent.start()
        worker_thread = container.start_thread(
            "worker", agent.run_forever, worker_stop, settings.worker.shutdown_grace_seconds
        )
        settle_heap()
        logger.info("scheduler up on http://%s:%s", settings.api.host, settings.api.port)
        serve_api(container, live)
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
        stop_shipping()
        container.close()
        if logs is not None:
            logs.close()


def run_api(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """The API alone: commands to the log, queries from the views (projected elsewhere)."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    check_api_security(settings)
    container = open_container(settings, "api")
    reloader.register_metrics(container.metrics.registry)
    try:
        ship_process_logs(container)
        container.start_heartbeat_collector()
        settle_heap()
        serve_api(container, live)
    finally:
        stop_shipping()
        container.close()
