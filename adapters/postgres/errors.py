"""What psycopg raises, sorted by what it means to the rest of the scheduler."""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

# The server is down, restarting or unreachable, or no pooled connection came free in time.
DOWN: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)
ANY: tuple[type[Exception], ...] = (psycopg.Error,)  # every driver error
DUPLICATE_KEY: tuple[type[Exception], ...] = (psycopg.errors.UniqueViolation,)
POOL_TIMEOUT: tuple[type[Exception], ...] = (PoolTimeout,)
