"""Shadow tables of a rebuild: their DDL per dialect, SQL aimed at them, and row comparison."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from projections.ports import Params, Row, Tx

SHADOW_SUFFIX = "__rebuild"
OLD_SUFFIX = "__old"
MAX_REPORTED = 1_000  # differing rows fetched per table and side


class RebuildError(Exception):
    """The rebuild cannot be completed safely (e.g. a live table's columns changed)."""


class RenamingTx:
    """A Tx that sends statements written for the live tables to their shadow tables."""

    def __init__(self, tx: Tx, rewrite: Callable[[str], str]) -> None:
        self._tx = tx
        self._rewrite = rewrite

    def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement on the shadows."""
        return self._tx.execute(self._rewrite(sql), params)

    def executemany(self, sql: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run one statement on the shadows for many parameter sets."""
        self._tx.executemany(self._rewrite(sql), rows)

    def query(self, sql: str, params: Params = None) -> list[Row]:
        """Rows from the shadows."""
        return self._tx.query(self._rewrite(sql), params)

    def one(self, sql: str, params: Params = None) -> Row | None:
        """One row from the shadows."""
        return self._tx.one(self._rewrite(sql), params)

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction of the underlying one."""
        return self._tx.savepoint()


def table_renamer(renames: Mapping[str, str]) -> Callable[[str], str]:
    """Rewrite whole-word table names in SQL, leaving string literals and placeholders alone."""
    names = "|".join(re.escape(name) for name in sorted(renames, key=len, reverse=True))
    pattern = re.compile(rf"'(?:[^']|'')*'|%\(\w+\)s|\b({names})\b")
    cache: dict[str, str] = {}

    def rewrite(sql: str) -> str:
        if sql not in cache:
            cache[sql] = pattern.sub(
                lambda m: renames[m.group(1)] if m.group(1) else m.group(0), sql
            )
        return cache[sql]

    return rewrite


@dataclass
class Difference:
    """A row that differs between a live table and its rebuild (None: the row is absent)."""

    table: str
    key: dict[str, Any]
    live: dict[str, Any] | None
    rebuilt: dict[str, Any] | None

    def describe(self) -> str:
        """One line naming the row and what differs."""
        key = ", ".join(f"{k}={v}" for k, v in self.key.items())
        if self.rebuilt is None:
            return f"{self.table} ({key}): in the live table only"
        if self.live is None:
            return f"{self.table} ({key}): missing from the live table"
        changed = [
            f"{column}: live {self.live[column]!r}, rebuilt {value!r}"
            for column, value in self.rebuilt.items()
            if self.live.get(column) != value
        ]
        return f"{self.table} ({key}): " + "; ".join(changed)


def compare_table(tx: Tx, ddl: ShadowDdl, table: str) -> tuple[list[Difference], int]:
    """Rows that differ between a table and its shadow (capped), and how many keys differ."""
    shadow = table + SHADOW_SUFFIX
    key = ddl.primary_key(tx, table) or [name for name, _type in ddl.columns(tx, table)]
    sides: list[dict[tuple[Any, ...], Row]] = []
    for first, second in ((table, shadow), (shadow, table)):
        rows = tx.query(
            f'SELECT * FROM "{first}" EXCEPT SELECT * FROM "{second}" LIMIT {MAX_REPORTED}'
        )
        sides.append({tuple(str(row[k]) for k in key): row for row in rows})
    live_rows, rebuilt_rows = sides
    keys = sorted(set(live_rows) | set(rebuilt_rows))
    differences = [
        Difference(
            table,
            dict(zip(key, k, strict=True)),
            live_rows.get(k),
            rebuilt_rows.get(k),
        )
        for k in keys
    ]
    return differences, len(keys)


class ShadowDdl:
    """Creates, swaps and inspects shadow tables; one subclass per SQL dialect."""

    @staticmethod
    def for_dialect(dialect: str) -> ShadowDdl:
        """The DDL of "sqlite" or "postgres"."""
        return PostgresShadowDdl() if dialect == "postgres" else SqliteShadowDdl()

    def create_shadow(self, tx: Tx, table: str) -> None:
        """An empty copy of the table with its columns, constraints and indexes."""
        raise NotImplementedError

    def swap(self, tx: Tx, table: str) -> None:
        """Put the shadow in the live table's place, under the live names, and drop the old."""
        raise NotImplementedError

    def columns(self, tx: Tx, table: str) -> list[tuple[str, str]]:
        """(name, type) of each column, in order."""
        raise NotImplementedError

    def primary_key(self, tx: Tx, table: str) -> list[str]:
        """The primary key's columns, in order."""
        raise NotImplementedError

    def drop_shadow(self, tx: Tx, table: str) -> None:
        """Drop the table's shadow if there is one."""
        tx.execute(f'DROP TABLE IF EXISTS "{table}{SHADOW_SUFFIX}"')

    def limit_lock_wait(self, tx: Tx) -> None:
        """Bound how long the switch waits for readers of the live tables."""

    def analyze_shadows(self, tx: Tx, tables: Sequence[str]) -> None:
        """Refresh planner statistics so the swapped-in tables are queried well at once."""

    def check_same_columns(self, tx: Tx, table: str) -> None:
        """Refuse to swap when the live table's columns changed during the rebuild.

        Raises:
            RebuildError: a migration altered the table since the shadow was created.
        """
        if self.columns(tx, table) != self.columns(tx, table + SHADOW_SUFFIX):
            raise RebuildError(f"the columns of {table!r} changed during the rebuild; run it again")


class PostgresShadowDdl(ShadowDdl):
    """`CREATE TABLE ... (LIKE ... INCLUDING ALL)`; index names restored after the swap."""

    INDEXES = """
    SELECT c.relname AS name, pg_get_indexdef(i.indexrelid) AS definition
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = %(table)s::regclass ORDER BY c.relname
    """
    COLUMNS = """
    SELECT column_name AS name, data_type AS type FROM information_schema.columns
    WHERE table_schema = current_schema() AND table_name = %(table)s ORDER BY ordinal_position
    """
    PRIMARY_KEY = """
    SELECT a.attname AS name FROM pg_index i
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
    WHERE i.indrelid = %(table)s::regclass AND i.indisprimary
    ORDER BY array_position(i.indkey, a.attnum)
    """

    def __init__(self) -> None:
        self._index_names: dict[str, list[tuple[str, str]]] = {}

    def create_shadow(self, tx: Tx, table: str) -> None:
        """LIKE copies columns, defaults, constraints and indexes under generated names."""
        shadow = table + SHADOW_SUFFIX
        self.drop_shadow(tx, table)
        tx.execute(f'CREATE TABLE "{shadow}" (LIKE "{table}" INCLUDING ALL)')
        # Pair each generated index name with the live one it copies (same definition), so
        # the swap can restore the live names and later migrations still find them.
        live = self._definitions(tx, table)
        copies = self._definitions(tx, shadow)
        self._index_names[table] = [
            (copy, name)
            for signature, names in live.items()
            for name, copy in zip(names, copies.get(signature, []), strict=False)
        ]

    def swap(self, tx: Tx, table: str) -> None:
        """Rename live to old, shadow to live, drop old, then give the indexes their names."""
        old, shadow = table + OLD_SUFFIX, table + SHADOW_SUFFIX
        tx.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
        tx.execute(f'ALTER TABLE "{shadow}" RENAME TO "{table}"')
        tx.execute(f'DROP TABLE "{old}"')
        for copy, name in self._index_names.get(table, []):
            tx.execute(f'ALTER INDEX "{copy}" RENAME TO "{name}"')  # renames its constraint too

    def columns(self, tx: Tx, table: str) -> list[tuple[str, str]]:
        """From information_schema, in column order."""
        return [(r["name"], r["type"]) for r in tx.query(self.COLUMNS, {"table": table})]

    def primary_key(self, tx: Tx, table: str) -> list[str]:
        """From pg_index."""
        return [r["name"] for r in tx.query(self.PRIMARY_KEY, {"table": table})]

    def limit_lock_wait(self, tx: Tx) -> None:
        """A long API query must not stall the switch (and every reader queued behind it)."""
        tx.execute("SET LOCAL lock_timeout = '5s'")

    def analyze_shadows(self, tx: Tx, tables: Sequence[str]) -> None:
        """ANALYZE each shadow."""
        for table in tables:
            tx.execute(f'ANALYZE "{table}{SHADOW_SUFFIX}"')

    def _definitions(self, tx: Tx, table: str) -> dict[str, list[str]]:
        """Index names by definition with the index and table names left out."""
        found: dict[str, list[str]] = {}
        for row in tx.query(self.INDEXES, {"table": table}):
            unique = row["definition"].startswith("CREATE UNIQUE")
            signature = f"{unique} {row['definition'].split(' USING ', 1)[1]}"
            found.setdefault(signature, []).append(row["name"])
        return found


class SqliteShadowDdl(ShadowDdl):
    """The CREATE statements from sqlite_master, renamed; indexes recreated after the swap."""

    CREATE_TABLE = re.compile(
        r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:\"[^\"]+\"|`[^`]+`|\[[^\]]+\]|\w+)",
        re.IGNORECASE,
    )
    CREATE_INDEX = re.compile(
        r"^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+ON\s+\S+?\s*\(",
        re.IGNORECASE,
    )

    def __init__(self) -> None:
        self._indexes: dict[str, list[tuple[str, str]]] = {}

    def create_shadow(self, tx: Tx, table: str) -> None:
        """The table's own CREATE statement and explicit indexes, under shadow names."""
        shadow = table + SHADOW_SUFFIX
        self.drop_shadow(tx, table)
        row = tx.one(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %(table)s",
            {"table": table},
        )
        if row is None:
            raise RebuildError(f"no table {table!r}: run `scheduler migrate` first")
        tx.execute(self.CREATE_TABLE.sub(f'CREATE TABLE "{shadow}"', row["sql"], count=1))
        indexes = tx.query(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = %(table)s AND sql IS NOT NULL",
            {"table": table},
        )
        self._indexes[table] = []
        for index in indexes:
            copy = index["name"] + SHADOW_SUFFIX
            tx.execute(
                self.CREATE_INDEX.sub(
                    lambda m, c=copy: f'CREATE {m.group(1) or ""}INDEX "{c}" ON "{shadow}" (',
                    index["sql"],
                    count=1,
                )
            )
            # Kept as written: after the swap it creates the live name on the new table.
            self._indexes[table].append((copy, index["sql"]))

    def swap(self, tx: Tx, table: str) -> None:
        """Rename and drop; SQLite cannot rename an index, so it is created again."""
        old, shadow = table + OLD_SUFFIX, table + SHADOW_SUFFIX
        tx.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
        tx.execute(f'ALTER TABLE "{shadow}" RENAME TO "{table}"')
        tx.execute(f'DROP TABLE "{old}"')
        for copy, sql in self._indexes.get(table, []):
            tx.execute(f'DROP INDEX "{copy}"')
            tx.execute(sql)

    def columns(self, tx: Tx, table: str) -> list[tuple[str, str]]:
        """From pragma table_info, in column order."""
        rows = tx.query("SELECT name, type FROM pragma_table_info(%(table)s)", {"table": table})
        return [(r["name"], r["type"]) for r in rows]

    def primary_key(self, tx: Tx, table: str) -> list[str]:
        """From pragma table_info."""
        rows = tx.query(
            "SELECT name FROM pragma_table_info(%(table)s) WHERE pk > 0 ORDER BY pk",
            {"table": table},
        )
        return [r["name"] for r in rows]
