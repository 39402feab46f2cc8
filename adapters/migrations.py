"""Applies a store's forward-only SQL files (migrations/<dialect>/), once each, idempotently."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from adapters.sql_store import StoreDatabase

logger = logging.getLogger(__name__)

CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    applied_at  text NOT NULL
)
"""


def split_statements(script: str) -> list[str]:
    """Split a migration script into statements (our files keep ';' at line ends only)."""
    without_comments = "\n".join(
        line for line in script.splitlines() if not line.lstrip().startswith("--")
    )
    return [s.strip() for s in without_comments.split(";\n") if s.strip().rstrip(";").strip()]


def apply_migrations(database: StoreDatabase, announce: bool = True) -> list[str]:
    """Apply every migration not yet applied; returns the versions applied now."""
    applied_now: list[str] = []
    migrations = database.migrations
    with database.transaction() as tx:
        if migrations.lock is not None:
            tx.execute(migrations.lock)
        tx.execute(CREATE_LEDGER)
        done = {row["version"] for row in tx.query("SELECT version FROM schema_migrations")}
        for path in migrations.files():
            if path.stem in done:
                continue
            for statement in split_statements(path.read_text()):
                tx.execute(statement.rstrip(";"))
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (%(v)s, %(at)s)",
                {"v": path.stem, "at": _now_text()},
            )
            applied_now.append(path.stem)
            if announce:
                logger.info("migration applied", extra={"action": "migrated", "version": path.stem})
    return applied_now


def _now_text() -> str:
    # Only an audit note in the ledger; migrations never depend on it.
    return datetime.now(UTC).isoformat()
