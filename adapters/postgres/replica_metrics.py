"""The read replica's Prometheus metrics: up, lag, and where reads went."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from adapters.postgres.replica_monitor import ReplicaMonitor

# Why a read went to the primary: the request pinned it (read-your-writes), or the replica
# was down / lagging / not probed yet, or still lacked a write an earlier request could not
# see on it (held_back), or a query on it failed, found the pool busy, or was cancelled by
# replay (a recovery conflict).
FALLBACK_REASONS = (
    "read_your_writes",
    "held_back",
    "down",
    "lagging",
    "unknown",
    "error",
    "busy",
    "conflict",
)


class ReplicaCollector(Collector):
    """The monitor's last probe, read when Prometheus scrapes."""

    def __init__(self, monitor: ReplicaMonitor) -> None:
        self._monitor = monitor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield up, and the lag when it is known."""
        state = self._monitor.state
        yield GaugeMetricFamily(
            "scheduler_replica_up",
            "1 while the read replica answers and is within read_max_lag_seconds (reads go to "
            "it); 0 while reads go to the primary.",
            value=float(state.status == "ok"),
        )
        if state.lag_seconds is not None:
            yield GaugeMetricFamily(
                "scheduler_replica_lag_seconds",
                "How long the read replica has been missing WAL the primary had (±1 s).",
                value=state.lag_seconds,
            )
        if state.lag_bytes is not None:
            yield GaugeMetricFamily(
                "scheduler_replica_lag_bytes",
                "WAL bytes the primary has written that the read replica has not replayed.",
                value=float(state.lag_bytes),
            )


def replica_metrics(registry: CollectorRegistry, monitor: ReplicaMonitor) -> Callable[[str], None]:
    """Register the replica's metrics; returns the counter of reads ("replica" or a reason)."""
    registry.register(ReplicaCollector(monitor))
    on_replica = Counter(
        "scheduler_replica_reads",
        "Read queries the read replica answered.",
        registry=registry,
    )
    fallbacks = Counter(
        "scheduler_replica_fallbacks",
        "Reads sent to the primary instead of the replica, by reason (read_your_writes counts "
        "requests, the others queries).",
        ["reason"],
        registry=registry,
    )
    for reason in FALLBACK_REASONS:
        fallbacks.labels(reason=reason)  # exported at 0 before the first

    def count(kind: str) -> None:
        if kind == "replica":
            on_replica.inc()
        else:
            fallbacks.labels(reason=kind).inc()

    return count
