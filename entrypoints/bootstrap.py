"""The composition root: builds every object a process needs from Settings, nothing global."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adapters.aes_secret_box import AesGcmSecretBox, development_key, parse_keys
from adapters.audit_chain import SqlChainStore
from adapters.event_positions import AggregateLog, event_positions
from adapters.event_store_role import ensure_append_only
from adapters.metrics import Metrics
from adapters.migrations import apply_migrations
from adapters.postgres import locks as postgres_locks
from adapters.postgres.bulk_rebuild import bulk_through_scratch, replay_share
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.event_partitions import PostgresLiveStore
from adapters.postgres.listener import LISTEN, LISTEN_VIEWS, NOTIFY_VIEWS, keep_session
from adapters.postgres.pool import application_name, connection_options, conninfo
from adapters.postgres.session import PostgresSession
from adapters.postgres.shadow_ddl import PostgresShadowDdl
from adapters.sql_store import StoreDatabase
from adapters.sqlite import locks as sqlite_locks
from adapters.sqlite.database import SqliteDatabase
from adapters.sqlite.live_store import SqliteLiveStore
from adapters.sqlite.scratch import scratch_database
from adapters.sqlite.shadow_ddl import SqliteShadowDdl
from application.archive.keeper import RetentionKeeper
from application.archive.lookup import ArchivedAggregates, LogWithArchive
from application.archive.ports import LiveStore
from application.archive.service import Archiving
from application.audit import AuditChainFollower
from application.bus import Bus
from application.circuit_breaker import BreakerPolicy, BreakerRegistry
from application.commands.app import SchedulerApp
from application.dispatch.liveness import InMemoryLiveness, LivenessStore, collect_heartbeats
from application.ports import Clock, SystemClock, Wakeup
from application.quarantine import QuarantineLedger
from application.secrets import NoSecretBox, SecretBox
from application.tracing import NO_TRACER, Tracer
from entrypoints.bus_factory import build_guarded_bus
from entrypoints.read_replica import build_replica
from entrypoints.settings import Settings
from entrypoints.tracer_setup import open_tracer
from projections.base import Projection
from projections.catalog import all_projections
from projections.dispatcher_status import SqlDispatcherBeacon
from projections.history import History
from projections.joint import JointProjector
from projections.ports import Database, Lease, Tx
from projections.quarantine import SqlQuarantineLedger
from projections.rebuild import Progress, Rebuild, relevant_pages
from projections.runner import ProjectionRunner, RunnerSupervisor
from projections.shadow_tables import ShadowDdl
from projections.shared_log import SharedLogReads
from projections.time_travel import TimeTravel
from projections.waiter import PositionWaiter

if TYPE_CHECKING:
    from adapters.postgres.read_route import Replica
    from application.dispatch.dispatcher import Dispatcher
    from application.dispatch.policy import DispatchPolicy

logger = logging.getLogger(__name__)

AGGREGATE_CACHE_SIZE = "10000"
WAIT_POLL_SECONDS = 0.01  # read-your-writes re-reads the positions this often without NOTIFY
WAIT_FALLBACK_SECONDS = 0.1  # ... and this often with it, in case a NOTIFY was lost
SHARED_BATCHES = 4  # the runners' shared window of the log holds this many batches
# Breakers of server processes back off at most this long, so that a process is serving again
# within a few seconds of its database (or bus) coming back, not after the default 30 s.
SERVER_BREAKERS = BreakerPolicy(max_backoff=5.0)


def projection_lease(session: PostgresSession | None, name: str) -> Lease:
    """On PostgreSQL an advisory lock on the session; SQLite assumes one projecting process."""
    if session is None:
        return sqlite_locks.LocalLease()
    return postgres_locks.projection_lease(session, name)


def rebuild_lock(database: Database, name: str) -> AbstractContextManager[None]:
    """One rebuild of projection `name` at a time (RebuildLockedError while another runs)."""
    if isinstance(database, PostgresDatabase):
        return postgres_locks.rebuild_lock(database, name)
    assert isinstance(database, SqliteDatabase)
    return sqlite_locks.rebuild_lock(database, name)


def postgres_conninfo(settings: Settings) -> str:
    """`[database] url` as a libpq conninfo string."""
    return conninfo(settings.postgres_conninfo)


def open_session(settings: Settings, name: str, setup: tuple[str, ...] = ()) -> PostgresSession:
    """The process's session connection (LISTEN, advisory locks), connected.

    Raises:
        psycopg.Error: the server cannot be reached.
    """
    options = connection_options(name, settings.database.connection_timeout_seconds)
    session = PostgresSession(postgres_conninfo(settings), options, setup)
    session.connect()
    return session


@dataclass
class Store:
    """The event store and the read tables of one process, and its session on PostgreSQL."""

    app: SchedulerApp
    database: StoreDatabase
    session: PostgresSession | None = None

    def close(self) -> None:
        """Release every connection (the app closes the shared pool)."""
        self.app.close()
        self.database.close()
        if self.session is not None:
            self.session.close()


def build_store(
    settings: Settings,
    name: str,
    *,
    migrate: bool = True,
    create_tables: bool | None = None,
    guard: bool | None = None,
    listen: bool = False,
    announce: bool = True,
    env: dict[str, str] | None = None,
    secrets: SecretBox | None = None,
) -> Store:
    """Open the store within the connection budget: on PostgreSQL one session + one pool.

    `name` is the connections' application_name; `create_tables` defaults to
    `[database] create_event_tables`, and `guard` (install the append-only triggers) to
    `create_tables`. The store is ready once its tables are migrated and guarded as asked.
    """
    create = settings.database.create_event_tables if create_tables is None else create_tables
    app_env = {
        **settings.eventstore_env(name),
        "CREATE_TABLE": "y" if create else "n",
        **(env or {}),
    }
    guarded = create if guard is None else guard
    retention = settings.retention
    # After the migrations only: the guards need their trigger function (migration 0004).
    partition = retention.partition_events if retention.enabled and create and migrate else None

    def prepare(store: Store) -> Store:
        return _prepare(
            store, migrate=migrate, guard=guarded, announce=announce, partition=partition
        )

    new_app = partial(SchedulerApp, env=app_env, secrets=secrets)
    if settings.database_kind == "postgres":
        return _open_postgres_store(settings, name, new_app, listen, prepare)
    return _open_sqlite_store(settings, new_app, prepare)


def _open_sqlite_store(
    settings: Settings, new_app: Callable[[], SchedulerApp], prepare: Callable[[Store], Store]
) -> Store:
    database = SqliteDatabase(settings.sqlite_path, settings.database.lock_timeout_seconds)
    try:
        return prepare(Store(new_app(), database))
    except BaseException:
        database.close()
        raise


def _open_postgres_store(
    settings: Settings,
    name: str,
    new_app: Callable[[], SchedulerApp],
    listen: bool,
    prepare: Callable[[Store], Store],
) -> Store:
    # Tables are created under an advisory lock: processes starting at once race on DDL.
    session = open_session(settings, name, (LISTEN, LISTEN_VIEWS) if listen else ())
    try:
        with session.locked(postgres_locks.SCHEMA_LOCK_KEY):
            app = new_app()  # creates the event store's tables if allowed
            return prepare(Store(app, PostgresDatabase.on_event_store(app, session), session))
    except BaseException:
        session.close()
        raise


def _prepare(
    store: Store, *, migrate: bool, guard: bool, announce: bool, partition: int | None = None
) -> Store:
    try:
        if migrate:
            apply_migrations(store.database, announce=announce)
        if partition is not None:
            partition_event_table(store.database, partition)
        if guard:
            # The log is append-only even for its owner (docs/audit.md); idempotent.
            ensure_append_only(store.database)
    except BaseException:
        store.app.close()
        raise
    return store


def build_database(settings: Settings, process: str = "cli") -> StoreDatabase:
    """The read tables alone, with a pool of their own (tools; processes use `build_store`)."""
    if settings.database_kind == "postgres":
        return PostgresDatabase.standalone(
            postgres_conninfo(settings),
            connection_options(
                application_name(process), settings.database.connection_timeout_seconds
            ),
            size=settings.database.pool_size - 1,
            timeout_seconds=settings.database.connection_timeout_seconds,
        )
    return SqliteDatabase(settings.sqlite_path, settings.database.lock_timeout_seconds)


@contextmanager
def rebuild_job(
    app: SchedulerApp,
    database: Database,
    chosen: Sequence[Projection],
    batch_size: int = 5_000,
    on_progress: Callable[[Progress], None] = lambda _progress: None,
    env: Mapping[str, str] | None = None,
) -> Iterator[Rebuild]:
    """A rebuild wired for the store.

    On PostgreSQL the bulk goes through local scratch files (in parallel processes when
    `env`, the event store settings, is given) and the rest through pipelined pages.
    """
    if isinstance(database, PostgresDatabase):
        job = _rebuild(app, database, PostgresShadowDdl(), chosen, batch_size, on_progress)
        # What each child process builds: its own app on `env`, the projections named.
        share = partial(replay_share, SchedulerApp, all_projections)
        with bulk_through_scratch(job, database, app, env, share) as accelerated:
            yield accelerated
    else:  # SQLite runs in-process already: straight into the shadows
        yield _rebuild(app, database, SqliteShadowDdl(), chosen, batch_size, on_progress)


def _rebuild(
    app: SchedulerApp,
    database: Database,
    ddl: ShadowDdl,
    chosen: Sequence[Projection],
    batch_size: int,
    on_progress: Callable[[Progress], None],
) -> Rebuild:
    return Rebuild(
        chosen,
        relevant_pages(app, chosen),
        database,
        ddl,
        head=app.head_position,
        batch_size=batch_size,
        on_progress=on_progress,
    )


def partition_event_table(database: StoreDatabase, partition_events: int) -> list[str]:
    """[retention] on PostgreSQL: the log partitioned by position (docs/retention.md)."""
    if not isinstance(database, PostgresDatabase):
        return []  # SQLite keeps one table: nothing is detached there
    changes = PostgresLiveStore(database, partition_events).ensure_partitioned()
    for change in changes:
        logger.info(change, extra={"action": "partitioned"})
    return changes


def build_live_store(settings: Settings, database: StoreDatabase) -> LiveStore:
    """The event store as archiving sees it: partitions on PostgreSQL, files only on SQLite."""
    if isinstance(database, PostgresDatabase):
        return PostgresLiveStore(database, settings.retention.partition_events)
    assert isinstance(database, SqliteDatabase)
    return SqliteLiveStore(database)


def build_archiving(settings: Settings, app: SchedulerApp, database: StoreDatabase) -> Archiving:
    """Retention and archive files for the store, in `[retention] archive_dir`."""
    return Archiving(
        app,
        SqlChainStore(database),
        build_live_store(settings, database),
        Path(settings.retention.archive_dir),
    )


def build_history(
    app: SchedulerApp, database: StoreDatabase | None = None, settings: Settings | None = None
) -> History:
    """History and time travel over the log; with `database`, records carry log positions.

    Past states are replayed into in-memory SQLite copies of the read tables (any store).
    """
    positions = partial(event_positions, database) if database is not None else None
    if settings is None or not settings.retention.enabled:
        return History(app, TimeTravel(scratch_database), positions)
    # Runs archived out of the live store are read from the files (docs/retention.md).
    log = LogWithArchive(app, ArchivedAggregates(Path(settings.retention.archive_dir)))
    return History(log, TimeTravel(scratch_database), log.positions(positions))


@dataclass
class Container:
    """Everything one process runs, wired once."""

    settings: Settings
    app: SchedulerApp
    database: StoreDatabase
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
    history: History
    breakers: BreakerRegistry = field(default_factory=BreakerRegistry)
    session: PostgresSession | None = None  # LISTEN and every lease, on PostgreSQL
    tracer: Tracer = NO_TRACER
    replica: Replica | None = None  # [database] read_url: where the query side reads
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    projector: JointProjector | None = None  # the runners, a batch in one transaction

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

        One thread applies each batch to every projection in one transaction (the joint
        projector). A projection whose lease another process holds is left to it, and asked
        for again every few seconds. A supervisor restarts the thread if it dies.
        """
        assert self.projector is not None, "build_container wires the projector"
        self.projector.catch_up()
        supervisor = RunnerSupervisor([self.projector], self.start_thread)
        self.extras["projection_supervisor"] = supervisor
        self.start_thread("projection-supervisor", supervisor.run, self.stop)

    def close(self, timeout: float = 10.0) -> None:
        """Stop threads, then release connections."""
        self.stop.set()
        self.log_wakeup.ring()
        for thread in self.threads:
            thread.join(timeout)
        self.bus.close()
        self.app.close()  # and the pool it shares with the views
        self.database.close()
        if self.replica is not None:
            self.replica.close()
        if self.session is not None:
            self.session.close()
        self.tracer.shutdown()  # last: the spans of everything above are sent


def build_container(
    settings: Settings,
    clock: Clock | None = None,
    process: str = "up",
    tracer: Tracer | None = None,
) -> Container:
    """Wire the process: event store, read tables (migrated), projections, bus, metrics.

    `process` names its PostgreSQL connections (`scheduler-<process>`, and the dispatcher's
    configured name): see `application_name`; and its spans (`tracer`, by default from
    `[observability]`).
    """
    name = application_name(process, settings.dispatcher.name if process == "dispatcher" else None)
    store = build_store(
        settings,
        name,
        listen=True,
        env={"AGGREGATE_CACHE_MAXSIZE": AGGREGATE_CACHE_SIZE},
        secrets=build_secret_box(settings),
    )
    app, database, session = store.app, store.database, store.session
    app.tracer = tracer = tracer or open_tracer(settings, process)
    log_wakeup, committed = Wakeup(), Wakeup()
    app.on_saved(lambda _position: log_wakeup.ring())
    breakers = BreakerRegistry(SERVER_BREAKERS)
    aggregate_log = AggregateLog(app.aggregate_events, database)
    # The runners read each batch of the log once between them, not once each.
    shared_log = SharedLogReads(
        app, SHARED_BATCHES * settings.projections.batch_size, rung=log_wakeup.generation
    )
    runners = [
        ProjectionRunner(
            projection,
            shared_log,
            database,
            wakeup=log_wakeup,
            committed=committed,
            batch_size=settings.projections.batch_size,
            poll_interval=settings.projections.poll_interval_seconds,
            breaker=breakers.get(f"projection:{projection.name}"),
            lease=projection_lease(session, projection.name),
            aggregate_log=aggregate_log,
            # On PostgreSQL other processes' read-your-writes waits hear each batch at once.
            announce=announce_views if session is not None else None,
            tracer=tracer,
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
        waiter=PositionWaiter(
            database,
            committed,
            # NOTIFY wakes the waits on PostgreSQL: the poll is only the fallback there.
            poll_seconds=WAIT_POLL_SECONDS if session is None else WAIT_FALLBACK_SECONDS,
            projections=[runner.projection for runner in runners],
        ),
        runners=runners,
        bus=build_guarded_bus(settings, breakers, reports_wakeup=log_wakeup),
        liveness=InMemoryLiveness(),
        metrics=Metrics(
            database,
            breakers,
            head=app.head_position,
            wait_seconds=settings.database.connection_timeout_seconds,
        ),
        quarantine=SqlQuarantineLedger(database),
        aggregate_log=aggregate_log,
        history=build_history(app, database, settings),
        breakers=breakers,
        session=session,
        tracer=tracer,
        projector=JointProjector(
            runners,
            shared_log,
            database,
            wakeup=log_wakeup,
            committed=committed,
            batch_size=settings.projections.batch_size,
            poll_interval=settings.projections.poll_interval_seconds,
        ),
    )
    container.replica = build_replica(settings, process, name, database, container.metrics.registry)
    if container.replica is not None:
        container.start_thread("replica-monitor", container.replica.run_forever, container.stop)
    if session is not None:
        # Other processes' saves arrive as NOTIFY; in-process saves ring directly.
        container.start_thread(
            "pg-session", keep_session, session, log_wakeup, container.stop, committed
        )
    return container


def announce_views(tx: Tx) -> None:
    """NOTIFY the views' channel inside a projection batch: heard when (and if) it commits."""
    tx.execute(NOTIFY_VIEWS)


def build_secret_box(settings: Settings) -> SecretBox:
    """The box that seals secret values: SCHEDULER_SECRET_KEY, else a development key file,
    else none (secret values are then refused, never stored in plain text)."""
    config = settings.secrets
    if config.keys:
        return AesGcmSecretBox(parse_keys(config.keys))
    if config.development_key_file:
        path = Path(config.development_key_file)
        logger.warning(
            "secret values sealed with the development key in %s; production deployments "
            "set SCHEDULER_SECRET_KEY (docs/security.md#secrets)",
            path,
        )
        return AesGcmSecretBox([development_key(path)])
    logger.info("no SCHEDULER_SECRET_KEY: secret values are refused (docs/security.md#secrets)")
    return NoSecretBox()


def dispatch_policy(settings: Settings) -> DispatchPolicy:
    """The dispatcher's knobs from `[dispatcher]` and `[worker]` (again on each reload)."""
    from application.dispatch.policy import DispatchPolicy

    return DispatchPolicy(
        lease_seconds=settings.worker.heartbeat_interval_seconds
        * settings.dispatcher.lease_heartbeats,
        deadline_grace_seconds=settings.dispatcher.deadline_grace_seconds,
        republish_after_seconds=settings.dispatcher.republish_after_seconds,
        max_recoveries=settings.dispatcher.max_recoveries,
        batch_size=settings.dispatcher.assign_batch_size,
        poll_interval=settings.dispatcher.poll_interval_seconds,
    )


def make_dispatcher(container: Container) -> Dispatcher:
    """A dispatcher configured from `[dispatcher]` and `[worker]`."""
    # Imported when built: only a dispatcher's process pays for it, not every CLI command.
    from application.dispatch.dispatcher import Dispatcher

    settings = container.settings
    policy = dispatch_policy(settings)
    return Dispatcher(
        container.app,
        container.bus,
        container.liveness,
        container.clock,
        container.log_wakeup,
        name=settings.dispatcher.name or f"dispatcher:{socket.gethostname()}",
        policy=policy,
        observer=container.metrics,
        breaker=container.breakers.get("dispatcher:database"),
        quarantine=container.quarantine,
        aggregate_log=container.aggregate_log,
        beacon=SqlDispatcherBeacon(container.database),
    )


def start_audit_chain(container: Container) -> None:
    """Extend the tamper-evidence chain over new events, in a background thread."""
    follower = AuditChainFollower(container.app.stored_log, SqlChainStore(container.database))
    container.start_thread(
        "audit-chain",
        follower.run_forever,
        container.stop,
        container.log_wakeup,
        container.settings.projections.poll_interval_seconds,
    )


def start_retention(container: Container, actor: str) -> None:
    """With `[retention] enabled`: apply the window every interval (docs/retention.md)."""
    retention = container.settings.retention
    if not retention.enabled:
        return
    keeper = RetentionKeeper(
        container.app,
        build_live_store(container.settings, container.database),
        container.clock,
        actor,
        retention.window_hours,
        retention.interval_seconds,
    )
    container.start_thread("retention", keeper.run_forever, container.stop)
