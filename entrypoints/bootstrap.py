"""The composition root: builds every object a process needs from Settings, nothing global."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from adapters.database import PostgresDatabase, SqliteDatabase
from adapters.guarded_bus import GuardedBus
from adapters.memory_bus import InMemoryBus
from adapters.metrics import Metrics
from adapters.migrations import apply_migrations
from adapters.pg_listener import listen_forever
from adapters.redis_bus import RedisStreamsBus
from application.bus import Bus
from application.circuit_breaker import BreakerRegistry
from application.liveness import InMemoryLiveness, LivenessStore, collect_heartbeats
from application.ports import Clock, SystemClock, Wakeup
from application.scheduler_app import SchedulerApp
from entrypoints.settings import Settings
from projections.base import Projection
from projections.ports import Database
from projections.run_stats import RunStatsProjection
from projections.runner import ProjectionRunner
from projections.runs import RunsProjection
from projections.tasks import TasksProjection
from projections.waiter import PositionWaiter
from projections.workers import WorkersProjection

logger = logging.getLogger(__name__)

AGGREGATE_CACHE_SIZE = "10000"
SCHEMA_LOCK_KEY = 727_001  # advisory lock held while a process creates tables


def all_projections() -> list[Projection]:
    """Every read-table projection, in a stable order."""
    return [TasksProjection(), RunsProjection(), WorkersProjection(), RunStatsProjection()]


def build_database(settings: Settings) -> Database:
    """The read-table database named by `[database] url`."""
    if settings.database_kind == "postgres":
        return PostgresDatabase(
            postgres_conninfo(settings),
            pool_size=settings.database.pool_size,
            timeout_seconds=settings.database.connection_timeout_seconds,
        )
    return SqliteDatabase(settings.sqlite_path, settings.database.lock_timeout_seconds)


def build_bus(settings: Settings, reports_wakeup: Wakeup | None = None) -> Bus:
    """The bus named by `[message_queue] type`."""
    queue = settings.message_queue
    if queue.type == "redis":
        return RedisStreamsBus(queue.effective_url or "redis://127.0.0.1:6379/0", queue.prefix)
    if queue.type == "rabbitmq":
        from adapters.rabbitmq_bus import RabbitMQBus

        return RabbitMQBus(
            queue.effective_url or "amqp://guest:guest@127.0.0.1:5672/", queue.prefix
        )
    return InMemoryBus(reports_wakeup=reports_wakeup)


@contextmanager
def schema_lock(settings: Settings) -> Iterator[None]:
    """Serialise schema creation across processes starting at once (PostgreSQL DDL races)."""
    if settings.database_kind != "postgres":
        yield
        return
    with psycopg.connect(
        postgres_conninfo(settings),
        autocommit=True,
        connect_timeout=max(1, round(settings.database.connection_timeout_seconds)),
    ) as connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


def postgres_conninfo(settings: Settings) -> str:
    info = settings.postgres_conninfo
    return " ".join(f"{k}='{v!s}'" for k, v in info.items() if v not in (None, ""))


@dataclass
class Container:
    """Everything one process runs, wired once."""

    settings: Settings
    app: SchedulerApp
    database: Database
    clock: Clock
    log_wakeup: Wakeup
    committed: Wakeup
    waiter: PositionWaiter
    runners: list[ProjectionRunner]
    bus: Bus
    liveness: LivenessStore
    metrics: Metrics
    breakers: BreakerRegistry = field(default_factory=BreakerRegistry)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def projection_names(self) -> list[str]:
        """The names of every read-table projection."""
        return [r.projection.name for r in self.runners]

    def start_thread(self, name: str, target: Any, *args: Any) -> threading.Thread:
        """Start a daemon thread that this container stops and joins on close."""
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)
        return thread

    def start_heartbeat_collector(self) -> None:
        """Keep worker leases in this process from the heartbeat broadcast."""
        self.start_thread(
            "heartbeats", collect_heartbeats, self.bus, self.liveness, self.clock, self.stop
        )

    def start_projections(self) -> None:
        """Catch up every projection, then follow the log in background threads."""
        for runner in self.runners:
            runner.catch_up()
            self.start_thread(f"projection-{runner.projection.name}", runner.run_forever, self.stop)

    def close(self, timeout: float = 10.0) -> None:
        """Stop threads, then release connections."""
        self.stop.set()
        self.log_wakeup.ring()
        for thread in self.threads:
            thread.join(timeout)
        self.bus.close()
        self.app.close()
        self.database.close()


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    """Wire the process: event store, read tables (migrated), projections, bus, metrics."""
    database = build_database(settings)
    env = {**settings.eventstore_env(), "AGGREGATE_CACHE_MAXSIZE": AGGREGATE_CACHE_SIZE}
    with schema_lock(settings):
        apply_migrations(database)
        app = SchedulerApp(env=env)  # creates the event store's tables if missing
    log_wakeup, committed = Wakeup(), Wakeup()
    app.on_saved(lambda _position: log_wakeup.ring())
    breakers = BreakerRegistry()
    runners = [
        ProjectionRunner(
            projection,
            app,
            database,
            wakeup=log_wakeup,
            committed=committed,
            batch_size=settings.projections.batch_size,
            poll_interval=settings.projections.poll_interval_seconds,
            breaker=breakers.get(f"projection:{projection.name}"),
        )
        for projection in all_projections()
    ]
    container = Container(
        settings=settings,
        app=app,
        database=database,
        clock=clock or SystemClock(),
        log_wakeup=log_wakeup,
        committed=committed,
        waiter=PositionWaiter(database, committed),
        runners=runners,
        bus=GuardedBus(build_bus(settings, reports_wakeup=log_wakeup), breakers.get("bus")),
        liveness=InMemoryLiveness(),
        metrics=Metrics(database, breakers),
        breakers=breakers,
    )
    if settings.database_kind == "postgres":
        # Other processes' saves arrive as NOTIFY; in-process saves ring directly.
        container.start_thread(
            "pg-listener", listen_forever, postgres_conninfo(settings), log_wakeup, container.stop
        )
    return container


def default_worker_name() -> str:
    """A readable default worker name: the host name."""
    return f"{socket.gethostname()}-local"
