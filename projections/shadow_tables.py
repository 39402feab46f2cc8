"""Shadow tables of a rebuild: the DDL port, SQL aimed at them, and row comparison."""

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
    """Creates, swaps and inspects shadow tables; one subclass per SQL dialect (adapters/)."""

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
