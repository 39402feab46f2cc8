"""Opens the event store and the read tables of a process within its connection budget."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.event_store_role import ensure_append_only
from adapters.migrations import apply_migrations
from adapters.postgres.database import PostgresDatabase
from adapters.postgres.event_store import event_store_pool
from adapters.postgres.listener import LISTEN
from adapters.postgres.pool import application_name, connection_options
from adapters.postgres.session import PostgresSession
from adapters.sql_store import StoreDatabase
from adapters.sqlite.database import SqliteDatabase
from application.scheduler_app import SchedulerApp
from entrypoints.settings import Settings

SCHEMA_LOCK_KEY = 727_001  # advisory lock held while a process creates tables


def postgres_conninfo(settings: Settings) -> str:
    """`[database] url` as a libpq conninfo string."""
    info = settings.postgres_conninfo
    return " ".join(f"{k}='{v!s}'" for k, v in info.items() if v not in (None, ""))


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
) -> Store:
    """Open the store within the connection budget: on PostgreSQL one session + one pool.

    `name` is the connections' application_name; `create_tables` defaults to
    `[database] create_event_tables`, and `guard` (install the append-only triggers) to
    `create_tables`. Tables are created under an advisory lock, since processes starting at
    once race on PostgreSQL DDL.
    """
    create = settings.database.create_event_tables if create_tables is None else create_tables
    app_env = {
        **settings.eventstore_env(name),
        "CREATE_TABLE": "y" if create else "n",
        **(env or {}),
    }
    if settings.database_kind != "postgres":
        database: StoreDatabase = SqliteDatabase(
            settings.sqlite_path, settings.database.lock_timeout_seconds
        )
        try:
            return _prepare(
                Store(SchedulerApp(env=app_env), database), migrate, guard, create, announce
            )
        except BaseException:
            database.close()
            raise
    session = open_session(settings, name, (LISTEN,) if listen else ())
    try:
        with session.locked(SCHEMA_LOCK_KEY):
            app = SchedulerApp(env=app_env)  # creates the event store's tables if allowed
            pool = event_store_pool(app)
            # After a loss the pool's idle connections are dead and after a reconnect the
            # server is back: check them at once instead of on some request's checkout.
            session.on_change(pool.check)
            store = Store(app, PostgresDatabase(pool, session), session)
            return _prepare(store, migrate, guard, create, announce)
    except BaseException:
        session.close()
        raise


def _prepare(
    store: Store, migrate: bool, guard: bool | None, create: bool, announce: bool
) -> Store:
    try:
        if migrate:
            apply_migrations(store.database, announce=announce)
        if create if guard is None else guard:
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
