"""The composition root: builds every object a process needs from Settings, nothing global."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo

from adapters.database import PostgresDatabase, SqliteDatabase
from adapters.event_positions import AggregateLog
from adapters.event_store_role import ensure_append_only
from adapters.guarded_bus import GuardedBus
from adapters.memory_bus import InMemoryBus
from adapters.metrics import Metrics
from adapters.migrations import apply_migrations
from adapters.pg_listener import listen_forever
from adapters.redis_bus import RedisStreamsBus
from adapters.tls import TlsFiles
from application.bus import Bus
from application.circuit_breaker import BreakerRegistry
from application.liveness import InMemoryLiveness, LivenessStore, collect_heartbeats
from application.ports import Clock, SystemClock, Wakeup
from application.quarantine import QuarantineLedger
from application.scheduler_app import SchedulerApp
from entrypoints.settings import Settings
from projections.base import Projection
from projections.ports import Database
from projections.quarantine import SqlQuarantineLedger
from projections.run_stats import RunStatsProjection
from projections.runner import Lease, LocalLease, ProjectionRunner, RunnerSupervisor
from projections.runs import RunsProjection
from projections.tasks import TasksProjection
from projections.waiter import PositionWaiter
from projections.workers import WorkersProjection

logger = logging.getLogger(__name__)

AGGREGATE_CACHE_SIZE = "10000"
SCHEMA_LOCK_KEY = 727_001  # advisory lock held while a process creates tables
# With hashtext(projection name) as the second key: one runner per projection cluster-wide.
PROJECTION_LOCK_CLASS = 727_002
LEASE_CHECK_SECONDS = 5.0


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
    tls = TlsFiles(queue.tls_ca_file, queue.tls_cert_file, queue.tls_key_file)
    if queue.type == "redis":
        return RedisStreamsBus(
            queue.effective_url or "redis://127.0.0.1:6379/0", queue.prefix, tls=tls
        )
    if queue.type == "rabbitmq":
        from adapters.rabbitmq_bus import RabbitMQBus

        return RabbitMQBus(
            queue.effective_url or "amqp://guest:guest@127.0.0.1:5672/", queue.prefix, tls=tls
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
    """The libpq connection string of `[database]`, TLS options included."""
    # make_conninfo quotes and escapes: a quote in a password must not end the value (and
    # a parse error would print the rest of the string, password and all).
    info = settings.postgres_conninfo
    return make_conninfo(**{k: str(v) for k, v in info.items() if v not in (None, "")})


class PostgresLease:
    """A session advisory lock per projection, held on a connection of its own."""

    def __init__(self, conninfo: str, name: str, connect_timeout: float = 5.0) -> None:
        self._conninfo = conninfo
        self._name = name
        self._timeout = max(1, round(connect_timeout))
        self._connection: psycopg.Connection[Any] | None = None
        self._checked = 0.0

    def acquire(self) -> bool:
        """Try the lock once; while held, check every few seconds that its session is alive."""
        if self._connection is not None:
            if time.monotonic() - self._checked < LEASE_CHECK_SECONDS:
                return True
            try:
                self._connection.execute("SELECT 1")
                self._checked = time.monotonic()
                return True
            except psycopg.Error:
                # The session ended, so the server released the lock: take it again below.
                logger.warning("projection %s lost its lease connection", self._name)
                self.release()
        try:
            connection = psycopg.connect(
                self._conninfo, autocommit=True, connect_timeout=self._timeout
            )
        except psycopg.Error as error:
            logger.debug("projection %s cannot reach the database: %s", self._name, error)
            return False
        try:
            row = connection.execute(
                "SELECT pg_try_advisory_lock(%s::int, hashtext(%s))",
                (PROJECTION_LOCK_CLASS, self._name),
            ).fetchone()
        except psycopg.Error:
            row = None
        if not (row and row[0]):
            with suppress(psycopg.Error):
                connection.close()
            return False
        self._connection, self._checked = connection, time.monotonic()
        return True

    def release(self) -> None:
        """Closing the session releases the lock."""
        connection, self._connection = self._connection, None
        if connection is not None:
            with suppress(psycopg.Error):
                connection.close()


def projection_lease(settings: Settings, name: str) -> Lease:
    """On PostgreSQL an advisory lock; SQLite assumes one process runs the projections."""
    if settings.database_kind != "postgres":
        return LocalLease()
    return PostgresLease(
        postgres_conninfo(settings), name, settings.database.connection_timeout_seconds
    )


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
    quarantine: QuarantineLedger
    aggregate_log: AggregateLog
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
        """Catch up the projections this process holds, then follow the log in threads.

        A projection whose lease another process holds is left to it; its thread waits for
        the lease. A supervisor restarts any runner thread that dies.
        """
        for runner in self.runners:
            if runner.lease.acquire():
                runner.catch_up()
        supervisor = RunnerSupervisor(self.runners, self.start_thread)
        self.extras["projection_supervisor"] = supervisor
        self.start_thread("projection-supervisor", supervisor.run, self.stop)

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
        if settings.database.create_event_tables:
            # The log is append-only even for its owner (docs/audit.md); idempotent.
            ensure_append_only(database)
    log_wakeup, committed = Wakeup(), Wakeup()
    app.on_saved(lambda _position: log_wakeup.ring())
    breakers = BreakerRegistry()
    aggregate_log = AggregateLog(app.aggregate_events, database)
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
            lease=projection_lease(settings, projection.name),
            aggregate_log=aggregate_log,
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
        metrics=Metrics(database, breakers, head=app.head_position),
        quarantine=SqlQuarantineLedger(database),
        aggregate_log=aggregate_log,
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
