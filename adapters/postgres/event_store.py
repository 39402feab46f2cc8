"""The eventsourcing 9.5.6 PostgreSQL store on the process's one pool, with bounded retries.

Named by `PERSISTENCE_MODULE` (Settings.eventstore_env). It changes two things in the
library: the datastore's pool becomes a `BudgetPool` (named connections, at most
`POSTGRES_POOL_SIZE`, no overflow, the read tables borrow it), and the recorders no longer
retry a failed call 10 times 0.2 s apart. Those retries multiplied every pool timeout by 10
and held each request for as long as PostgreSQL was down (12.9 s in a 12 s outage).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from eventsourcing.application import Application
from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import (
    ConnectionPool,
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
)
from eventsourcing.utils import Environment, EnvType
from psycopg_pool import PoolTimeout

from adapters.postgres.pool import (
    RECONNECT_GIVE_UP_SECONDS,
    BudgetPool,
    check_unless_fresh,
    connection_options,
)

APPLICATION_NAME = "POSTGRES_APPLICATION_NAME"  # application_name of every connection
# The env keys Settings.eventstore_env() renders, and the libpq TLS options they become: the
# library's datastore takes none of them itself.
TLS_OPTIONS = {
    "POSTGRES_SSLMODE": "sslmode",
    "POSTGRES_SSLROOTCERT": "sslrootcert",
    "POSTGRES_SSLCERT": "sslcert",
    "POSTGRES_SSLKEY": "sslkey",
}
POOL_TIMEOUT = "POSTGRES_POOL_TIMEOUT"  # checkout timeout in seconds; may be fractional
READ_RETRY_WAIT_SECONDS = 0.2

F = TypeVar("F", bound=Callable[..., Any])


def _unretried(method: F) -> F:
    """The library's function without its `@retry(max_attempts=10, wait=0.2)`."""
    unwrapped: F = getattr(method, "__wrapped__", method)
    return unwrapped


def _written_once(method: F) -> F:
    """A write is tried once: after a broken connection its outcome is unknown (may be saved)."""
    return _unretried(method)


def _read_twice(method: F) -> F:
    """A read is retried once after a broken connection; never after a pool timeout."""
    function = _unretried(method)

    @functools.wraps(function)
    def read(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (InterfaceError, OperationalError) as error:
            if isinstance(error.__cause__, PoolTimeout):
                raise  # the whole timeout was spent: the caller answers now (503)
        time.sleep(READ_RETRY_WAIT_SECONDS)
        return function(*args, **kwargs)

    return cast(F, read)  # functools.wraps gave it the signature of `method`


class BoundedAggregateRecorder(PostgresAggregateRecorder):
    """The snapshot store's recorder, without the library's tenfold retries."""

    insert_events = _written_once(PostgresAggregateRecorder.insert_events)
    select_events = _read_twice(PostgresAggregateRecorder.select_events)


class BoundedApplicationRecorder(PostgresApplicationRecorder):
    """The event log's recorder, without the library's tenfold retries."""

    insert_events = _written_once(PostgresApplicationRecorder.insert_events)
    select_events = _read_twice(PostgresApplicationRecorder.select_events)
    select_notifications = _read_twice(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _read_twice(PostgresApplicationRecorder.max_notification_id)


class SchedulerPostgresFactory(PostgresFactory):
    """PostgresFactory whose datastore draws on one bounded, named `BudgetPool`."""

    aggregate_recorder_class = BoundedAggregateRecorder
    application_recorder_class = BoundedApplicationRecorder

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        datastore = self.datastore
        # The library built a pool of POOL_SIZE..POOL_SIZE+MAX_OVERFLOW connections; it is
        # not opened yet (it opens lazily), so replacing it here opens nothing twice.
        library_pool: ConnectionPool[Any] = datastore.pool
        assert isinstance(library_pool.kwargs, dict)
        size = library_pool.max_size
        timeout = float(self.env.get(POOL_TIMEOUT) or library_pool.timeout)
        name = self.env.get(APPLICATION_NAME) or "scheduler"
        tls = {option: self.env.get(key) for key, option in TLS_OPTIONS.items()}
        datastore.pool = BudgetPool(
            kwargs={
                **library_pool.kwargs,
                **connection_options(name, timeout),
                **{option: value for option, value in tls.items() if value},
            },
            connection_class=library_pool.connection_class,
            min_size=min(1, size),
            max_size=size,
            open=False,
            configure=datastore.after_connect_func(),
            check=check_unless_fresh if datastore.pre_ping else None,
            timeout=timeout,
            max_lifetime=library_pool.max_lifetime,
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
            name=name,
            get_password_func=library_pool.get_password_func,
        )


def event_store_pool(app: Application[Any]) -> BudgetPool:
    """The pool of an app built on `SchedulerPostgresFactory`, opened, for other tables to share.

    Raises:
        TypeError: the app's event store is not a SchedulerPostgresFactory store.
    """
    factory = app.factory
    if not isinstance(factory, SchedulerPostgresFactory):
        raise TypeError(f"the event store is {type(factory).__name__}, not on a shared pool")
    pool = factory.datastore.pool
    assert isinstance(pool, BudgetPool)
    pool.open()
    return pool
