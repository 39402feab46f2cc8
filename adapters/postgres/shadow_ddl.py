"""PostgreSQL's shadow tables: `LIKE ... INCLUDING ALL`, with the live index names restored."""

from __future__ import annotations

from collections.abc import Sequence

from projections.ports import Tx
from projections.shadow_tables import OLD_SUFFIX, SHADOW_SUFFIX, ShadowDdl


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
