"""Access to the real servers tests use; absent servers skip locally and fail under CI=true."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_missing(what: str, error: Exception) -> None:
    """Fail under CI (a missing server is a broken build), skip with the reason locally."""
    message = f"{what} is not reachable: {error}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def admin_database_url() -> str:
    """The PostgreSQL server tests may create databases on."""
    return os.environ.get("SCHEDULER_TEST_DATABASE_URL", DEFAULT_DATABASE_URL)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a uniquely named database, yield its URL, then drop it."""
    admin_url = admin_database_url()
    name = f"scheduler_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        server_missing("PostgreSQL", error)
    parts = urlsplit(admin_url)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_role_database(connection_limit: int) -> Iterator[str]:
    """A uniquely named LOGIN role with CONNECTION LIMIT, owning a fresh database; both dropped.

    Yields the database URL as that role (the test server trusts local connections).
    """
    admin_url = admin_database_url()
    name = f"scheduler_limit_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
            connection.execute(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT {connection_limit:d}')
            connection.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    except psycopg.OperationalError as error:
        server_missing("PostgreSQL", error)
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{name}@{host}" + (f":{parts.port}" if parts.port else "")
    try:
        yield urlunsplit(parts._replace(netloc=netloc, path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.execute(f'DROP ROLE IF EXISTS "{name}"')


DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


def redis_url() -> str:
    """The Redis server tests use."""
    return os.environ.get("SCHEDULER_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def amqp_url() -> str:
    """The RabbitMQ server tests use."""
    return os.environ.get("SCHEDULER_TEST_AMQP_URL", DEFAULT_AMQP_URL)


def unique_prefix() -> str:
    """A key/queue prefix no other test run uses."""
    return f"sched-test-{uuid.uuid4().hex[:10]}"
