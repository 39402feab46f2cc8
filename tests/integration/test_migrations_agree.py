"""The PostgreSQL and SQLite migrations define the same tables, columns and keys, in order."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from adapters.migrations import apply_migrations
from adapters.sql_store import StoreDatabase
from entrypoints.bootstrap import build_database
from entrypoints.settings import load_settings
from tests.servers import fresh_postgres_database

Schema = dict[str, list[str]]

PG_COLUMNS = """
SELECT c.table_name AS table_name, c.column_name AS column_name
FROM information_schema.columns c
JOIN information_schema.tables t
  ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
ORDER BY c.table_name, c.ordinal_position
"""
PG_PRIMARY_KEYS = """
SELECT k.table_name AS table_name, k.column_name AS column_name
FROM information_schema.table_constraints c
JOIN information_schema.key_column_usage k
  ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
WHERE c.table_schema = current_schema() AND c.constraint_type = 'PRIMARY KEY'
ORDER BY k.table_name, k.ordinal_position
"""
SQLITE_TABLES = (
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
)


@contextmanager
def migrated(url: str) -> Iterator[StoreDatabase]:
    """The read tables of `url` with every migration applied (no event store tables)."""
    database = build_database(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
    try:
        apply_migrations(database, announce=False)
        yield database
    finally:
        database.close()


@pytest.fixture
def postgres() -> Iterator[StoreDatabase]:
    """A fresh PostgreSQL database, migrated."""
    with fresh_postgres_database() as url, migrated(url) as database:
        yield database


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[StoreDatabase]:
    """A fresh SQLite file, migrated."""
    with migrated(f"sqlite:///{tmp_path / 'migrated.db'}") as database:
        yield database


def _grouped(rows: list[dict[str, str]]) -> Schema:
    grouped: Schema = {}
    for row in rows:
        grouped.setdefault(row["table_name"], []).append(row["column_name"])
    return grouped


def postgres_columns(database: StoreDatabase) -> Schema:
    """Each table's columns in order, from information_schema."""
    return _grouped(database.query(PG_COLUMNS))


def sqlite_columns(database: StoreDatabase) -> Schema:
    """Each table's columns in order, from pragma table_info."""
    return {
        row["name"]: [
            column["name"]
            for column in database.query(
                "SELECT name FROM pragma_table_info(%(t)s)", {"t": row["name"]}
            )
        ]
        for row in database.query(SQLITE_TABLES)
    }


def sqlite_primary_keys(database: StoreDatabase) -> Schema:
    """Each table's primary key columns in key order, from pragma table_info."""
    keys: Schema = {}
    for row in database.query(SQLITE_TABLES):
        columns = database.query(
            "SELECT name FROM pragma_table_info(%(t)s) WHERE pk > 0 ORDER BY pk", {"t": row["name"]}
        )
        if columns:
            keys[row["name"]] = [column["name"] for column in columns]
    return keys


def test_both_dialects_migrate_to_the_same_tables_and_columns_in_the_same_order(
    postgres: StoreDatabase, sqlite: StoreDatabase
) -> None:
    expected = postgres_columns(postgres)
    assert "tasks" in expected and "audit_chain" in expected, "the migrations ran"
    assert sqlite_columns(sqlite) == expected


def test_both_dialects_key_each_table_by_the_same_columns(
    postgres: StoreDatabase, sqlite: StoreDatabase
) -> None:
    assert sqlite_primary_keys(sqlite) == _grouped(postgres.query(PG_PRIMARY_KEYS))
