"""What sqlite3 raises, sorted by what it means to the rest of the scheduler."""

from __future__ import annotations

import sqlite3

DOWN: tuple[type[Exception], ...] = (sqlite3.OperationalError,)  # locked, missing, unreadable
ANY: tuple[type[Exception], ...] = (sqlite3.Error,)  # every driver error
DUPLICATE_KEY: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
POOL_TIMEOUT: tuple[type[Exception], ...] = ()  # no pool: a connection per thread
