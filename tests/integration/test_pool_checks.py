"""The pool pings a connection at checkout when it sat idle: one lost meanwhile is replaced."""

from __future__ import annotations

import time

import psycopg
from psycopg.rows import dict_row

from adapters.postgres.pool import FRESH_SECONDS, BudgetPool, check_unless_fresh
from tests.servers import fresh_postgres_database


def test_a_connection_whose_server_side_ended_while_idle_is_replaced_at_checkout() -> None:
    with fresh_postgres_database() as url:
        pool = BudgetPool(
            url,
            min_size=1,
            max_size=1,
            timeout=5,
            kwargs={"autocommit": True, "row_factory": dict_row},
            check=check_unless_fresh,
            open=True,
        )
        try:
            with pool.connection() as conn:
                lost_pid = conn.info.backend_pid
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (lost_pid,))
            time.sleep(FRESH_SECONDS + 0.1)  # idle long enough to be pinged
            with pool.connection() as conn:
                row = conn.execute("SELECT pg_backend_pid() AS pid").fetchone()
            assert row is not None and row["pid"] != lost_pid
        finally:
            pool.close()
