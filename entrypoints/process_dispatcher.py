"""`scheduler dispatcher`: follows the log, assigns runs, records reports, recovers workers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from entrypoints.bootstrap import dispatch_policy, make_dispatcher, start_retention
from entrypoints.heap import settle_heap
from entrypoints.live_config import LiveConfig
from entrypoints.logging_setup import LogTransport, ship_process_logs, stop_shipping
from entrypoints.process_support import (
    on_signals,
    open_container,
    serve_metrics,
    start_reloading,
    wait_for_signal,
)
from entrypoints.reload import ConfigReloader

if TYPE_CHECKING:
    from application.dispatch.dispatcher import Dispatcher

logger = logging.getLogger(__name__)


def retune_on_reload(reloader: ConfigReloader, dispatcher: Dispatcher) -> None:
    """Give the dispatcher the knobs of every applied reload, and of one applied already."""
    reloader.on_apply(lambda fresh: dispatcher.retune(dispatch_policy(fresh)))
    dispatcher.retune(dispatch_policy(reloader.live.settings))  # built from the start's


def run_dispatcher(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """A dispatcher process: follows the log, assigns, records reports, recovers."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    container = open_container(settings, "dispatcher")
    reloader.register_metrics(container.metrics.registry)
    # Before any thread starts: a SIGTERM while the metrics server is still starting must
    # stop the process cleanly, not kill it by the default action.
    on_signals(container.stop.set)
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
        wait_for_signal(container.stop)
    finally:
        stop_shipping()
        container.close()
        if logs is not None:
            logs.close()
