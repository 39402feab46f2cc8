"""The one psycopg pool of a process, shared by the event store and the read tables.

Two rules keep every caller answering within the connection timeout: a checkout never waits
longer than the pool's timeout, and inside `connection_wait_budget(seconds)` (one HTTP
request; adapters/connection_budget.py) all checkouts together never wait longer than it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from eventsourcing.postgres import ConnectionPool
from psycopg import Connection
from psycopg.conninfo import make_conninfo

from adapters.connection_budget import current_budget

# The smallest checkout timeout: psycopg_pool refuses a timeout of 0 even with a free connection.
MIN_WAIT_SECONDS = 0.001
# How long the pool keeps retrying one lost connection before it gives up and lets the next
# checkout start a fresh attempt. psycopg_pool's default (5 min, backing off to 2+ min between
# attempts) could leave a process without connections long after the server is back.
RECONNECT_GIVE_UP_SECONDS = 3.0
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
APPLICATION_NAME_LIMIT = 63  # PostgreSQL truncates longer names (NAMEDATALEN - 1)
# A connection given back less than this long ago is handed out again without a ping: under
# load every checkout paid a round trip for it. One that sat idle longer is pinged first.
FRESH_SECONDS = 1.0
RETURNED_AT = "_scheduler_returned_at"  # when the pool last took the connection back


class BudgetPool(ConnectionPool[Connection[Any]]):
    """A pool whose checkouts draw on the caller's wait budget, when there is one."""

    def getconn(self, timeout: float | None = None) -> Connection[Any]:
        """A connection within min(timeout, what the budget has left), else PoolTimeout."""
        budget = current_budget()
        if timeout is not None or budget is None:
            return super().getconn(timeout)
        started = time.monotonic()
        try:
            return super().getconn(max(min(self.timeout, budget.remaining), MIN_WAIT_SECONDS))
        finally:
            budget.spend(time.monotonic() - started)

    def putconn(self, conn: Connection[Any]) -> None:
        """Take a connection back, noting when (a checkout soon after need not ping it)."""
        setattr(conn, RETURNED_AT, time.monotonic())
        super().putconn(conn)


def check_unless_fresh(conn: Connection[Any]) -> None:
    """The pool's checkout check: ping a connection that sat idle, trust one just returned.

    A connection lost while idle (a server restart) fails its ping and is replaced; one that
    was in use a moment ago is only checked for being closed or broken, without a round trip.
    The process's session also has every idle connection checked after it reconnects.
    """
    returned_at = getattr(conn, RETURNED_AT, None)
    if returned_at is None or time.monotonic() - returned_at >= FRESH_SECONDS:
        ConnectionPool.check_connection(conn)
    elif conn.closed or conn.broken:
        raise ConnectionError("the connection was closed while in the pool")


def application_name(process: str, name: str | None = None) -> str:
    """`scheduler-<process>[:<name>]`, printable ASCII, as long as PostgreSQL keeps."""
    text = f"scheduler-{process}" + (f":{name}" if name else "")
    printable = "".join(c if 32 <= ord(c) < 127 else "?" for c in text)
    return printable[:APPLICATION_NAME_LIMIT]


def conninfo(parts: Mapping[str, Any]) -> str:
    """libpq connection fields (dbname, host, port, user, password, TLS) as a conninfo string."""
    # make_conninfo quotes and escapes: a quote in a password must not end the value (and
    # a parse error would print the rest of the string, password and all).
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v not in (None, "")})


def connection_options(app_name: str, connect_timeout: float) -> dict[str, Any]:
    """libpq options every connection of ours uses: its name, a connect timeout, keepalives."""
    # tcp_user_timeout bounds a query on a connection whose peer vanished without a reset
    # (a cut network): the kernel gives up after this long instead of ~15 min of retries.
    return {
        "application_name": app_name,
        "connect_timeout": max(2, round(connect_timeout)),  # libpq's minimum is 2 s
        "tcp_user_timeout": int(max(connect_timeout, 5.0) * 1000),
        **KEEPALIVE,
    }
