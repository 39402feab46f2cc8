"""The database drivers' errors by meaning, for code that must not import a driver itself."""

from __future__ import annotations

from eventsourcing.persistence import PersistenceError

from adapters.postgres import errors as postgres
from adapters.sqlite import errors as sqlite

# What a database that is down or restarting raises, whichever store it is.
DATABASE_DOWN: tuple[type[Exception], ...] = postgres.DOWN + sqlite.DOWN
DATABASE_ERRORS: tuple[type[Exception], ...] = postgres.ANY + sqlite.ANY
DUPLICATE_KEY: tuple[type[Exception], ...] = postgres.DUPLICATE_KEY + sqlite.DUPLICATE_KEY
POOL_TIMEOUT: tuple[type[Exception], ...] = postgres.POOL_TIMEOUT + sqlite.POOL_TIMEOUT
# What reading or writing the event store raises: the drivers' errors, or the library's.
STORE_ERRORS: tuple[type[Exception], ...] = (*DATABASE_ERRORS, PersistenceError)


def is_pool_timeout(error: BaseException) -> bool:
    """Whether no pooled connection came free in time (raised as is, or as the cause)."""
    return isinstance(error, POOL_TIMEOUT) or isinstance(error.__cause__, POOL_TIMEOUT)
