"""`scheduler projector`: keeps every read table up to date with the log, and notifies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from entrypoints.alerting import start_notifier
from entrypoints.bootstrap import start_audit_chain
from entrypoints.heap import settle_heap
from entrypoints.live_config import LiveConfig
from entrypoints.logging_setup import ship_process_logs, stop_shipping
from entrypoints.process_support import (
    on_signals,
    open_container,
    serve_metrics,
    start_reloading,
    wait_for_signal,
)

logger = logging.getLogger(__name__)


def run_projector(live: LiveConfig, config_paths: Sequence[Path] = ()) -> None:
    """A projector process: keeps every read table up to date with the log, and notifies."""
    settings = live.settings
    reloader = start_reloading(live, config_paths)
    container = open_container(settings, "projector")
    reloader.register_metrics(container.metrics.registry)
    on_signals(container.stop.set)  # before any thread starts, as for the dispatcher
    try:
        ship_process_logs(container)
        container.start_projections()
        start_audit_chain(container)
        start_notifier(container)
        serve_metrics(settings, container.metrics.registry)
        settle_heap()
        logger.info("projector running: %s", ", ".join(container.projection_names))
        wait_for_signal(container.stop)
    finally:
        stop_shipping()
        container.close()
