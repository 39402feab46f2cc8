"""How a process logs: stderr in `[observability] log_format`, and shipped for /api/system/logs.

`configure_logging` runs once at start-up and may run again (a reload) to change the level
or the format; the shipping handler it installs waits for `ship_logs_to` to give it the
process's sink once the database (or, for a worker, the bus) is open.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from adapters.log_format import JsonLineFormatter, LogFieldsFilter, make_formatter
from adapters.log_redaction import install_redaction
from adapters.log_shipping import LogShipper, Sink
from adapters.log_table import LogTable
from entrypoints.bus_factory import build_bus
from entrypoints.redaction import redact_handlers
from entrypoints.settings import Settings
from projections.ports import Database

if TYPE_CHECKING:
    from entrypoints.bootstrap import Container

logger = logging.getLogger(__name__)

PROCESS_KINDS = ("api", "dispatcher", "worker", "projector", "up")
# The level is set on these: the root's handlers see every other logger, and uvicorn's
# loggers propagate to the root (serve_api gives uvicorn no handlers of its own).
LEVEL_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
COLLECT_BATCH = 1_000  # log lines a dispatcher takes off the bus at a time
COLLECT_IDLE_SECONDS = 1.0
H = TypeVar("H", bound=logging.Handler)


class ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The process's stderr handler (told apart from handlers others installed)."""


class LogTransport(Protocol):
    """The bus as far as log lines go: workers publish them, a dispatcher takes them."""

    def publish_logs(self, lines: Sequence[dict[str, Any]]) -> None: ...

    def take_logs(self, max_count: int) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...


def configure_logging(settings: Settings, process_kind: str | None = None) -> None:
    """Log to stderr in the configured format and level, every record stamped and masked.

    Called again, it applies the level and format of `settings` to the same handlers. A
    process (`process_kind` one of PROCESS_KINDS) also ships its records of level info and
    above: see `ship_logs_to`. A CLI command (`process_kind` None) only logs to stderr.
    """
    observability = settings.observability
    root = logging.getLogger()
    console = _installed(ConsoleHandler) or ConsoleHandler(sys.stderr)
    if console not in root.handlers:
        root.addHandler(console)
    console.setFormatter(make_formatter(observability.log_format))
    handlers: list[logging.Handler] = [console]
    if process_kind is not None:
        shipper = _installed(LogShipper) or LogShipper(name=f"log-shipper-{process_kind}")
        if shipper not in root.handlers:
            root.addHandler(shipper)
        shipper.setFormatter(JsonLineFormatter())  # always JSON: the table keeps fields
        handlers.append(shipper)
    kind = process_kind or "cli"
    for handler in handlers:
        for old in [f for f in handler.filters if isinstance(f, LogFieldsFilter)]:
            handler.removeFilter(old)
        handler.addFilter(LogFieldsFilter(kind))
    for name in LEVEL_LOGGERS:
        logging.getLogger(name).setLevel(observability.log_level.upper())
    install_redaction(settings.secret_values())
    redact_handlers([""], settings.connection_secrets)


def ship_logs_to(sink: Sink) -> None:
    """Give the process's shipping handler its sink (what waited is shipped first)."""
    shipper = _installed(LogShipper)
    if shipper is None:
        raise RuntimeError("configure_logging(settings, process_kind) was not called")
    shipper.attach(sink)


def log_table(settings: Settings, database: Database) -> LogTable:
    """The log_records table of the store, with the configured retention."""
    observability = settings.observability
    return LogTable(
        database, observability.log_retention_records, observability.log_retention_hours
    )


def log_transport(settings: Settings) -> LogTransport | None:
    """A connection of its own to the bus for log lines (None for the in-process bus).

    Not the process's guarded bus: log traffic that fails must not open the breaker that
    deliveries and reports go through.
    """
    if settings.message_queue.type == "memory":
        return None
    return cast(LogTransport, build_bus(settings))  # Redis and RabbitMQ buses carry logs


def ship_process_logs(container: Container, collect: bool = False) -> LogTransport | None:
    """Ship this process's records into its store's log table; with `collect` (a process
    that runs a dispatcher) also store the lines workers send over the bus.

    Returns the bus connection of the collector, for the caller to close after the container.
    """
    table = log_table(container.settings, container.database)
    ship_logs_to(table.write)
    transport = log_transport(container.settings) if collect else None
    if transport is not None:
        container.start_thread("log-collector", collect_logs, transport, table, container.stop)
    return transport


def stop_shipping() -> None:
    """Ship what is queued and take the shipping handler away (a process shutting down)."""
    shipper = _installed(LogShipper)
    if shipper is not None:
        logging.getLogger().removeHandler(shipper)
        shipper.close()


def collect_logs(transport: LogTransport, table: LogTable, stop: threading.Event) -> None:
    """Move the log lines workers published on the bus into the table, until `stop`."""
    while not stop.is_set():
        try:
            lines = transport.take_logs(COLLECT_BATCH)
            table.write(lines)
        except Exception as error:  # lines taken and not written are lost: logs, not records
            logger.warning(
                "cannot store the workers' log lines: %s: %s", type(error).__name__, error
            )
            lines = []
        if len(lines) < COLLECT_BATCH:
            stop.wait(COLLECT_IDLE_SECONDS)


def _installed(kind: type[H]) -> H | None:
    return next((h for h in logging.getLogger().handlers if isinstance(h, kind)), None)
