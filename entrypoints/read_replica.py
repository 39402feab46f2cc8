"""Wires `[database] read_url`: the readers' pool on the replica, its monitor, its metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.postgres.database import PostgresDatabase
from adapters.postgres.pool import connection_options, conninfo
from adapters.postgres.read_route import Replica
from adapters.postgres.replica_metrics import replica_metrics
from adapters.postgres.replica_monitor import ReplicaMonitor, connector

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from entrypoints.settings import Settings
    from projections.ports import Database

# Only processes that answer queries read from the replica; the projector, the dispatcher
# and the CLI work on the primary alone.
READING_PROCESSES = frozenset({"api", "up"})
# A checkout on the replica waits at most this long before the read spills to the primary.
REPLICA_CHECKOUT_SECONDS = 1.0


def build_replica(
    settings: Settings, process: str, name: str, primary: Database, registry: CollectorRegistry
) -> Replica | None:
    """The replica of a reading process, or None (no read_url, or a process that only writes).

    It holds `read_pool_size` connections to the replica plus one for the monitor's probe;
    none of them counts against `pool_size`, the primary's budget.
    """
    info = settings.read_conninfo
    if info is None or process not in READING_PROCESSES:
        return None
    timeout = settings.database.connection_timeout_seconds
    options = connection_options(name, timeout)
    database = PostgresDatabase.standalone(
        conninfo(info),
        options,
        size=settings.database.read_pool_size,
        timeout_seconds=min(REPLICA_CHECKOUT_SECONDS, timeout),
    )
    monitor = ReplicaMonitor(
        connector(conninfo(info), options), primary, settings.database.read_max_lag_seconds
    )
    return Replica(database, monitor, replica_metrics(registry, monitor))
