"""Prometheus metrics: one registry per process, counts read from the views at scrape time."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from adapters.breaker_metrics import BreakerCollector
from adapters.connection_budget import connection_wait_budget
from projections.dispatcher_status import read_dispatchers
from projections.ports import Database, Row

QUARANTINED = (
    "SELECT consumer, COUNT(*) AS n FROM quarantine WHERE status = 'held' GROUP BY consumer"
)
MISFIRES = """
SELECT name, last_misfire FROM tasks WHERE last_misfire IS NOT NULL AND status <> 'deleted'
"""
MISFIRE_WINDOW = timedelta(hours=1)  # older misfires drop out: the alert looks back 15 min
MAX_MISFIRE_SERIES = 100  # the newest ones: a label per task must not grow with the task count
DISPATCHER_STATUSES = ("running", "starting", "failing", "stale", "stopped")
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ViewCountsCollector(Collector):
    """Tasks and runs by status, projection positions and lag, read when Prometheus scrapes."""

    def __init__(
        self,
        database: Database,
        head: Callable[[], int] | None = None,
        wait_seconds: float = 5.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = database
        self._head = head
        self._wait = wait_seconds
        self._now = now

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the gauges (nothing of a part whose tables cannot be read)."""
        # One wait budget for the whole scrape: while the database is unreachable a scrape
        # answers within the connection timeout, not once per query.
        with connection_wait_budget(self._wait):
            families = [
                *self._counts(),
                *self._projections(),
                *self._quarantine(),
                *self._dispatchers(),
                *self._misfires(),
            ]
        yield from families

    def _dispatchers(self) -> Iterator[GaugeMetricFamily]:
        now = self._now()
        try:
            states = read_dispatchers(self._db, now)
        except Exception:
            return
        counts = dict.fromkeys(DISPATCHER_STATUSES, 0)
        for state in states:
            counts[state.status(now)] += 1
        family = GaugeMetricFamily(
            "scheduler_dispatchers",
            "Dispatchers heard from in the last hour, by status (stale: no beat for 15 s).",
            labels=["status"],
        )
        for status, count in counts.items():  # every status, so a missing one reads as 0
            family.add_metric([status], float(count))
        yield family

    def _misfires(self) -> Iterator[GaugeMetricFamily]:
        try:
            rows = self._db.query(MISFIRES)
        except Exception:
            return
        family = GaugeMetricFamily(
            "scheduler_task_last_misfire_timestamp_seconds",
            "When each task last recorded cron slots it did not fire (Task.MisfiresSkipped);"
            " only misfires of the last hour, at most the 100 newest.",
            labels=["task"],
        )
        for name, decided in recent_misfires(rows, self._now()):
            family.add_metric([name], decided.timestamp())
        yield family

    def _quarantine(self) -> Iterator[GaugeMetricFamily]:
        try:
            rows = self._db.query(QUARANTINED)
        except Exception:
            return
        family = GaugeMetricFamily(
            "scheduler_quarantined_aggregates",
            "Aggregates a consumer of the log holds because one of their events failed.",
            labels=["consumer"],
        )
        for row in rows:
            family.add_metric([row["consumer"]], float(row["n"]))
        yield family

    def _counts(self) -> Iterator[GaugeMetricFamily]:
        try:
            tasks = self._db.query("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status")
            runs = self._db.query("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
            workers = self._db.query("SELECT status, COUNT(*) AS n FROM workers GROUP BY status")
            load = self._db.query("SELECT name, running FROM workers WHERE status <> 'gone'")
        except Exception:  # a scrape must not fail because the database blinked
            return
        yield _gauge("scheduler_tasks", "Tasks by status.", "status", tasks, "status")
        yield _gauge("scheduler_runs", "Runs by status.", "status", runs, "status")
        yield _gauge("scheduler_workers", "Workers by status.", "status", workers, "status")
        in_flight = GaugeMetricFamily(
            "scheduler_worker_in_flight", "Unfinished runs held by each worker.", labels=["worker"]
        )
        for row in load:
            in_flight.add_metric([row["name"]], float(row["running"]))
        yield in_flight

    def _projections(self) -> Iterator[GaugeMetricFamily]:
        # Apart from the counts: a projection whose table is broken still reports its lag.
        try:
            positions = self._db.query("SELECT projection, position FROM projection_tracking")
            errors = self._db.query(
                "SELECT projection FROM projection_status WHERE last_error IS NOT NULL"
            )
            head = self._head() if self._head is not None else None
        except Exception:
            return
        family = GaugeMetricFamily(
            "scheduler_projection_position", "Last log position applied.", labels=["projection"]
        )
        for row in positions:
            family.add_metric([row["projection"]], float(row["position"]))
        yield family
        yield from _projection_health(positions, errors, head)


def _projection_health(
    positions: list[Row], errors: list[Row], head: int | None
) -> Iterator[GaugeMetricFamily]:
    """Lag behind the log head (computed now, from the shared tables) and last-error flags."""
    failing = {row["projection"] for row in errors}
    if head is not None:
        lag = GaugeMetricFamily(
            "scheduler_projection_lag_events",
            "Events in the log that the projection has not applied yet.",
            labels=["projection"],
        )
        for row in positions:
            lag.add_metric([row["projection"]], float(max(head - int(row["position"]), 0)))
        yield lag
    error = GaugeMetricFamily(
        "scheduler_projection_error",
        "1 while the projection's last batch failed (cleared by the next good batch).",
        labels=["projection"],
    )
    for row in positions:
        error.add_metric([row["projection"]], float(row["projection"] in failing))
    yield error


def recent_misfires(rows: list[Row], now: datetime) -> list[tuple[str, datetime]]:
    """The newest misfire of each task within the window, newest first, bounded in number.

    A row that cannot be read is skipped: one bad view row must not empty the scrape.
    """
    recent = []
    for row in rows:
        try:
            decided = datetime.fromisoformat(json.loads(row["last_misfire"])["decided_at"])
        except (TypeError, ValueError, KeyError):
            continue
        if decided.tzinfo is not None and now - decided <= MISFIRE_WINDOW:
            recent.append((str(row["name"]), decided))
    recent.sort(key=lambda item: item[1], reverse=True)
    return recent[:MAX_MISFIRE_SERIES]


def _gauge(name: str, doc: str, label: str, rows: list[Row], key: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for row in rows:
        family.add_metric([str(row[key])], float(row["n"]))
    return family


class Metrics:
    """Every metric this process exports; also the dispatcher's observer."""

    def __init__(
        self,
        database: Database | None = None,
        breakers: Any = None,
        head: Callable[[], int] | None = None,
        wait_seconds: float = 5.0,
    ) -> None:
        self.registry = CollectorRegistry()
        self.api_latency = Histogram(
            "scheduler_api_request_duration_seconds",
            "API request latency.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "scheduler_run_duration_seconds",
            "Duration of finished runs, as reported by workers.",
            ["status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.dispatch_latency = Histogram(
            "scheduler_dispatch_latency_seconds",
            "From a run being requested to its start being recorded.",
            buckets=(*LATENCY_BUCKETS, 10, 30, 60),
            registry=self.registry,
        )
        self.stale_reports = Counter(
            "scheduler_stale_reports_rejected",
            "Worker reports rejected because their attempt was superseded.",
            registry=self.registry,
        )
        self.duplicate_reports = Counter(
            "scheduler_duplicate_reports",
            "Worker reports already recorded: a resend, or a start heard after the attempt's "
            "final report, which records the start itself.",
            registry=self.registry,
        )
        self.recoveries = Counter(
            "scheduler_recoveries",
            "Runs requeued because their worker was lost.",
            registry=self.registry,
        )
        self.auth_denied = Counter(
            "scheduler_auth_denied",
            "API requests refused: 401 by reason (missing, unknown_key, revoked_key,"
            " expired_token, ...) and 403 as forbidden.",
            ["reason"],
            registry=self.registry,
        )
        self.api_throttled = Counter(
            "scheduler_api_throttled",
            "API requests refused with 429, by the limit that refused them.",
            ["reason"],
            registry=self.registry,
        )
        for reason in ("address", "principal", "auth_failures", "probe"):
            self.api_throttled.labels(reason=reason)  # exported at 0 before the first refusal
        self.subscription_deliveries = Counter(
            "scheduler_subscription_deliveries",
            "Subscription deliveries by target (url, email) and outcome: delivered, failed"
            " (to be retried) or dead_lettered.",
            ["target", "outcome"],
            registry=self.registry,
        )
        for target in ("url", "email"):  # exported at 0 before the first delivery
            for outcome in ("delivered", "failed", "dead_lettered"):
                self.subscription_deliveries.labels(target=target, outcome=outcome)
        self.api_address_refused = Counter(
            "scheduler_api_address_refused",
            "API requests refused with 403 because their client address is outside "
            "[api] ip_allowlist.",
            registry=self.registry,
        )
        if database is not None:
            self.registry.register(ViewCountsCollector(database, head, wait_seconds))
        if breakers is not None:
            self.registry.register(BreakerCollector(breakers))

    def run_finished(self, status: str, duration_seconds: float) -> None:
        """Observe a finished run."""
        self.run_duration.labels(status=status).observe(max(duration_seconds, 0.0))

    def run_dispatched(self, latency_seconds: float) -> None:
        """Observe requested → started latency."""
        self.dispatch_latency.observe(max(latency_seconds, 0.0))

    def stale_report(self) -> None:
        """Count a rejected stale report."""
        self.stale_reports.inc()

    def duplicate_report(self) -> None:
        """Count a report that was already recorded."""
        self.duplicate_reports.inc()

    def recovered(self, count: int) -> None:
        """Count runs requeued after their worker was lost."""
        self.recoveries.inc(count)

    def throttled(self, reason: str) -> None:
        """Count a request refused with 429."""
        self.api_throttled.labels(reason=reason).inc()

    def address_refused(self) -> None:
        """Count a request refused for its client address."""
        self.api_address_refused.inc()
