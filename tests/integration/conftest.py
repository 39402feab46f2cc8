"""Fixtures over the real stores: a fresh SQLite file or a fresh PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.bootstrap import Container, build_container
from entrypoints.settings import load_settings
from tests.servers import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each contract test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'scheduler.db'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def container(database_url: str) -> Iterator[Container]:
    """A wired process on the store under test, without background threads."""
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": database_url})
    built = build_container(settings)
    try:
        yield built
    finally:
        built.close()
