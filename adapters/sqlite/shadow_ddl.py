"""SQLite's shadow tables: the CREATE statements from sqlite_master, under shadow names."""

from __future__ import annotations

import re
from functools import partial

from projections.ports import Tx
from projections.shadow_tables import OLD_SUFFIX, SHADOW_SUFFIX, RebuildError, ShadowDdl


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
            header = partial(_index_header, copy, shadow)
            tx.execute(self.CREATE_INDEX.sub(header, index["sql"], count=1))
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


def _index_header(name: str, table: str, match: re.Match[str]) -> str:
    """`CREATE [UNIQUE] INDEX "name" ON "table" (`, keeping what the matched header said."""
    return f'CREATE {match.group(1) or ""}INDEX "{name}" ON "{table}" ('
