"""The log_records table on PostgreSQL and SQLite: the same writes, filters and retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.log_query import LogFilter, read_logs
from adapters.log_table import LogTable
from adapters.sql_store import StoreDatabase
from tests.integration.test_migrations_agree import migrated
from tests.servers import fresh_postgres_database

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["postgres", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreDatabase]:
    """A migrated store of each dialect."""
    if request.param == "sqlite":
        with migrated(f"sqlite:///{tmp_path / 'logs.db'}") as db:
            yield db
        return
    with fresh_postgres_database() as url, migrated(url) as db:
        yield db


def line(message: str, minutes_ago: float, **fields: object) -> dict[str, object]:
    at = (NOW - timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")
    return {"time": at, "level": "info", "logger": "l", "message": message, **fields}


def test_filters_and_retention_agree_in_both_dialects(database: StoreDatabase) -> None:
    table = LogTable(database, keep_records=4, keep_hours=1, now=lambda: NOW)
    table.write(
        [
            line("too old", 90),
            line("api said 50%", 40, process="api", correlation_id="c-1"),
            line("dispatched", 30, process="dispatcher", run_id="r-1", attempt=1),
            line("worker failed", 20, process="worker", run_id="r-1", level="error"),
            line("worker done", 10, process="worker", run_id="r-2"),
            line("latest\x00", 0, process="projector"),
        ]
    )

    def messages(**wanted: object) -> list[str]:
        items, _total = read_logs(database, LogFilter(**wanted))  # type: ignore[arg-type]
        return [i["message"] for i in items]

    # The newest 4, none over an hour old; a NUL (which PostgreSQL refuses) is replaced.
    assert messages() == ["latest\ufffd", "worker done", "worker failed", "dispatched"]
    assert messages(run_id="r-1") == ["worker failed", "dispatched"]
    assert messages(level="error") == ["worker failed"]
    assert messages(process="worker", until=NOW - timedelta(minutes=15)) == ["worker failed"]
    assert messages(since=NOW - timedelta(minutes=10)) == ["latest\ufffd", "worker done"]
    assert messages(q="WORKER") == ["worker done", "worker failed"]
    items, _ = read_logs(database, LogFilter(run_id="r-1"))
    assert items[0]["time"] == NOW - timedelta(minutes=20) and items[1]["attempt"] == 1
