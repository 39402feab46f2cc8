"""What every process main shares: start-up errors, signals, reloads and /metrics."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry

from adapters.executors.task_user import (
    TaskUser,
    TaskUserError,
    can_access,
    resolve_task_user,
)
from adapters.metrics_server import start_metrics_server
from entrypoints.config_loading import ConfigError
from entrypoints.config_watch import watch_config_files
from entrypoints.live_config import LiveConfig
from entrypoints.loopback import is_loopback_host
from entrypoints.redaction import redact
from entrypoints.reload import ConfigReloader, reload_on_sighup
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from entrypoints.bootstrap import Container

logger = logging.getLogger(__name__)


class StartupError(Exception):
    """The process could not reach its database or create its tables."""


def open_container(settings: Settings, process: str) -> Container:
    """The process's store, views, bus and threads; a failure is a StartupError naming it."""
    from entrypoints.bootstrap import build_container  # not in a worker, which has no store

    try:
        return build_container(settings, process=process)
    except Exception as error:  # any driver error here means "cannot start": say which store
        message = f"cannot open {settings.masked_database_url}: {type(error).__name__}: {error}"
        # `from None`: the traceback of the cause would print the unredacted message again.
        raise StartupError(redact(message, settings.connection_secrets)) from None


def on_signals(handler: Callable[[], None]) -> None:
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


def wait_for_signal(stop: threading.Event) -> None:
    on_signals(stop.set)
    while not stop.wait(1.0):
        pass
