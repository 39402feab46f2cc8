"""Process mains: `scheduler up`, `api`, `dispatcher`, `worker` and `projector`."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from prometheus_client import CollectorRegistry

from adapters.executors.task_groups import TaskGroupLedger
from adapters.executors.task_user import (
    TaskUser,
    TaskUserError,
    can_access,
    resolve_task_user,
)
from adapters.jwt_verifier import JwtKeyError
from adapters.metrics_server import start_metrics_server
from application.circuit_breaker import BreakerRegistry
from entrypoints.alerting import start_notifier
from entrypoints.api.app import build_jwt_verifier, create_api
from entrypoints.api.authentication import exposure_problem, is_loopback_host
from entrypoints.bootstrap import (
    Container,
    build_container,
    build_guarded_bus,
    dispatch_policy,
    make_dispatcher,
    make_worker,
    open_task_groups,
    open_tracer,
    start_audit_chain,
    start_retention,
    worker_metrics,
)
from entrypoints.config_loading import ConfigError
from entrypoints.config_watch import watch_config_files
from entrypoints.heap import settle_heap
from entrypoints.live_config import LiveConfig
from entrypoints.logging_setup import (
    LogTransport,
    log_transport,
    ship_logs_to,
    ship_process_logs,
    stop_shipping,
)
from entrypoints.redaction import redact
from entrypoints.reload import ConfigReloader, reload_on_sighup
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from application.dispatch.dispatcher import Dispatcher

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """The process could not reach its database or create its tables."""


def _build(settings: Settings, process: str) -> Container:
    try:
        return build_container(settings, process=process)
    except Exception as error:  # any driver error here means "cannot start": say which store
        message = f"cannot open {settings.masked_database_url}: {type(error).__name__}: {error}"
        # `from None`: the traceback of the cause would print the unredacted message again.
        raise StartupError(redact(message, settings.connection_secrets)) from None


def check_api_security(settings: Settings) -> None:
    """Refuse to serve the API anonymously beyond loopback, or with unusable JWT keys."""
    problem = exposure_problem(settings.auth, settings.api.host)
    if problem:
        raise StartupError(f"refusing to start: {problem}")
    try:
        build_jwt_verifier(settings.auth)
    except JwtKeyError as error:
        raise StartupError(f"refusing to start: [auth] JWT key: {error}") from None


def _on_signals(handler: Callable[[], None]) -> None:
    # Also absorbs uvicorn's re-raise of SIGTERM/SIGINT after its graceful shutdown, so the
    # process closes its threads and exits 0, as an orchestrator expects.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: handler())


def start_reloading(live: LiveConfig, config_paths: Sequence[Path]) -> ConfigReloader:
    """Reload on SIGHUP and on a change of the files; the caller adds what applies it."""
    reloader = ConfigReloader(live, config_paths)
    reload_on_sighup(reloader)  # first: from here on a SIGHUP never kills the process
    try:
        watch_config_files(reloader, threading.Event())
    except ConfigError as error:
        raise StartupError(str(error)) from None
    return reloader


def retune_on_reload(reloader: ConfigReloader, dispatcher: Dispatcher) -> None:
    """Give the dispatcher the knobs of every applied reload, and of one applied already."""
    reloader.on_apply(lambda fresh: dispatcher.retune(dispatch_policy(fresh)))
    dispatcher.retune(dispatch_policy(reloader.live.settings))  # built from the start's


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
    _on_signals(lambda: None)  # the caller stops the rest in order once serving ends
    server.run()


def task_user(settings: Settings) -> TaskUser:
    """Who task processes run as (`[worker] run_as_user`), said in the log when it is unusual.

    Raises:
        StartupError: the user does not exist or this worker cannot switch to it.
    """
    try:
        user = resolve_task_user(settings.worker.run_as_user)
    except TaskUserError as error:
        raise StartupError(str(error)) from None
    if user.uid == 0:
        logger.warning("tasks run as root: [worker] run_as_user = %r", settings.worker.run_as_user)
    elif settings.worker.run_as_user is None and os.geteuid() == 0:
        logger.warning(
            "the worker runs as root: tasks run as %s; set [worker] run_as_user to choose "
            "the user (root to run them as root)",
            user.describe(),
        )
    else:
        logger.info("tasks run as %s", user.describe())
    python = sys.executable
    if "python" in settings.worker.offered_executors and not can_access(python, user):
        logger.warning(
            "python tasks will fail: %s cannot run the interpreter %s (set [worker] "
            "run_as_user, or install the scheduler where that user can read it)",
            user.describe(),
            python,
        )
    return user


def run_up(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """Everything in one process: API, projections, a dispatcher and a local worker."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    check_api_security(settings)
    user = task_user(settings)  # refuse to start before opening anything
    container = _build(settings, "up")
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
    container = _build(settings, "api")
    reloader.register_metrics(container.metrics.registry)
    try:
        ship_process_logs(container)
        container.start_heartbeat_collector()
        settle_heap()
        serve_api(container, live)
    finally:
        stop_shipping()
        container.close()


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> None:
    """Expose /metrics for a process without the API, when a metrics port is set.

    Beyond loopback it needs `[observability] metrics_token`: metrics name tasks and workers.
    """
    observability, host = settings.observability, settings.api.host
    if not (observability.metrics_port and observability.metrics_enabled):
        return
    if observability.metrics_token is None and not is_loopback_host(host):
        raise StartupError(
            f"refusing to start: [observability] metrics_port would serve /metrics on {host!r}"
            " to anyone; set [observability] metrics_token, or bind [api] host to 127.0.0.1"
        )
    start_metrics_server(host, observability.metrics_port, registry, observability.metrics_token)
    logger.info("metrics on http://%s:%s/metrics", host, observability.metrics_port)


def _wait_for_signal(stop: threading.Event) -> None:
    _on_signals(stop.set)
    while not stop.wait(1.0):
        pass


def run_dispatcher(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """A dispatcher process: follows the log, assigns, records reports, recovers."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    container = _build(settings, "dispatcher")
    reloader.register_metrics(container.metrics.registry)
    # Before any thread starts: a SIGTERM while the metrics server is still starting must
    # stop the process cleanly, not kill it by the default action.
    _on_signals(container.stop.set)
    logs: LogTransport | None = None
    try:
        logs = ship_process_logs(container, collect=True)  # and the workers' lines
        container.start_heartbeat_collector()
        dispatcher = make_dispatcher(container)
        start_retention(container, dispatcher.name)
        retune_on_reload(reloader, dispatcher)
        container.start_thread("dispatcher", dispatcher.run_forever, container.stop)
        serve_metrics(settings, container.metrics.registry)
        settle_heap()
        logger.info("dispatcher %s running", dispatcher.name)
        _wait_for_signal(container.stop)
    finally:
        stop_shipping()
        container.close()
        if logs is not None:
            logs.close()


def run_projector(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """A projector process: keeps every read table up to date with the log, and notifies."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    container = _build(settings, "projector")
    reloader.register_metrics(container.metrics.registry)
    _on_signals(container.stop.set)  # before any thread starts, as for the dispatcher
    try:
        ship_process_logs(container)
        container.start_projections()
        start_audit_chain(container)
        start_notifier(container)
        serve_metrics(settings, container.metrics.registry)
        settle_heap()
        logger.info("projector running: %s", ", ".join(container.projection_names))
        _wait_for_signal(container.stop)
    finally:
        stop_shipping()
        container.close()


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
    _on_signals(stop.set)  # before anything starts: an early SIGTERM still ends cleanly
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
