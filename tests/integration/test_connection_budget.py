"""The connection budget in one process: an exhausted pool answers 503 in time; leases heal."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest
import uvicorn
from eventsourcing.persistence import OperationalError

from entrypoints.api.app import create_api
from entrypoints.bootstrap import Container, build_container, open_session, projection_lease
from entrypoints.settings import load_settings
from tests.e2e.conftest import free_port
from tests.servers import admin_database_url, fresh_postgres_database

TIMEOUT = 1.0  # [database] connection_timeout_seconds here
MARGIN = 0.5


@pytest.fixture
def tight() -> Iterator[Container]:
    """An API process on PostgreSQL with pool_size 2: the session and ONE pooled connection."""
    with fresh_postgres_database() as url:
        settings = load_settings(
            None,
            {
                "SCHEDULER_DATABASE__URL": url,
                "SCHEDULER_DATABASE__POOL_SIZE": "2",
                "SCHEDULER_DATABASE__CONNECTION_TIMEOUT_SECONDS": str(TIMEOUT),
                "SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK": "true",  # the client is local
            },
        )
        built = build_container(settings, process="api")
        try:
            yield built
        finally:
            built.close()


@contextmanager
def serving(container: Container) -> Iterator[httpx.Client]:
    """The real API of the container over HTTP, in a thread of this process."""
    port = free_port()
    config = uvicorn.Config(create_api(container), port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    until(lambda: server.started)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


def until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_an_exhausted_pool_answers_503_with_retry_after_within_the_timeout(
    tight: Container,
) -> None:
    tight.start_projections()  # they share the one pooled connection with the requests
    with serving(tight) as client:
        exhaust(tight, client)


def exhaust(tight: Container, client: httpx.Client) -> None:
    assert client.get("/api/tasks").status_code == 200
    pool = tight.database.pool
    assert pool.max_size == 1
    held = pool.getconn()  # every request now waits for the pool's only connection
    try:
        for method, path, body in [
            ("GET", "/api/tasks", None),
            ("POST", "/api/tasks", {"name": "waits", "command": "true"}),
            ("GET", "/api/runs", None),
            ("GET", "/health", None),
        ]:
            started = time.monotonic()
            answer = client.request(method, path, json=body)
            elapsed = time.monotonic() - started
            assert answer.status_code == 503, (path, answer.text)
            assert int(answer.headers["Retry-After"]) >= 1, path
            assert elapsed <= TIMEOUT + MARGIN, (path, elapsed)
        # Off the request path the event store gives up after one timeout too: the library's
        # ten retries 0.2 s apart would have taken 10 x (1 + 0.2) s.
        started = time.monotonic()
        with pytest.raises(OperationalError):
            tight.app.head_position()
        assert time.monotonic() - started <= TIMEOUT + MARGIN
    finally:
        pool.putconn(held)
    until(lambda: client.get("/api/tasks").status_code == 200)  # the breaker closes again
    assert client.post("/api/tasks", json={"name": "after", "command": "true"}).status_code == 201


def test_a_lease_lost_with_its_session_is_taken_again_on_the_new_one(tight: Container) -> None:
    session = tight.session
    assert session is not None
    lease = projection_lease(session, "tasks")
    elsewhere = open_session(tight.settings, "scheduler-test-elsewhere")  # another process
    rival = projection_lease(elsewhere, "tasks")
    try:
        assert lease.acquire()
        assert not rival.acquire()
        lost_pid, generation = session.backend_pid, session.generation
        with psycopg.connect(admin_database_url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (lost_pid,))
        until(lambda: session.connected and session.generation != generation)
        assert session.backend_pid != lost_pid
        # The server released the lock with the old session; whoever asks first gets it.
        until(lambda: lease.acquire())
        assert not rival.acquire()
    finally:
        lease.release()
        rival.release()
        elsewhere.close()
