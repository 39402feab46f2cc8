"""`[database] read_url` on a real streaming replica: the query side reads from it, a read
that must reflect a command sees it, and a stopped replica leaves reads on the primary."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.cluster import wait_until
from tests.e2e.conftest import SchedulerProcess, base_env, free_port
from tests.private_postgres import PrivatePostgres, private_postgres
from tests.private_replica import private_standby, replica_connection

READ_WAIT = 1.0  # [api] read_wait_timeout_seconds in this test: the bound of every wait
READERS = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = 'scheduler' AND application_name = 'scheduler-up' AND pid <> pg_backend_pid()
"""


def metric(client: httpx.Client, name: str, **labels: str) -> float | None:
    """One sample of /metrics, None when it is not exported."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None


def replica_check(client: httpx.Client) -> dict:
    response = client.get("/health")
    assert response.status_code == 200, response.text  # a replica never makes it 503
    return dict(response.json()["checks"]["read_replica"])


def primary_has(primary: PrivatePostgres, name: str) -> bool:
    with psycopg.connect(primary.url, autocommit=True) as connection:
        row = connection.execute("SELECT count(*) FROM tasks WHERE name = %s", (name,)).fetchone()
    return bool(row and row[0])


def tasks_named(client: httpx.Client, name: str, **params: int) -> int:
    response = client.get("/api/tasks", params={"name": name, **params})
    assert response.status_code == 200, response.text
    return int(response.json()["total"])


@pytest.mark.timeout(120)
def test_reads_go_to_the_replica_see_their_writes_and_fall_back_when_it_stops(
    tmp_path: Path,
) -> None:
    with (
        private_postgres(free_port()) as primary,
        private_standby(primary, free_port()) as standby,
        replica_connection(standby) as operator,
    ):
        env = {
            **base_env(),
            "SCHEDULER_DATABASE__URL": primary.url,
            "SCHEDULER_DATABASE__READ_URL": standby.url,
            "SCHEDULER_DATABASE__READ_MAX_LAG_SECONDS": "60",  # paused replay stays "ok"
            "SCHEDULER_API__READ_WAIT_TIMEOUT_SECONDS": str(READ_WAIT),
        }
        scheduler = SchedulerProcess(tmp_path, env)
        scheduler.start()
        try:
            with httpx.Client(base_url=scheduler.url, timeout=30) as client:
                wait_until(
                    lambda: replica_check(client)["status"] == "ok",
                    10,
                    f"the replica never became ok: {client.get('/health').text}",
                )
                assert replica_check(client)["serving"] == "replica"
                # The readers' pool and the monitor are connected to the standby.
                assert operator.execute(READERS).fetchone()[0] >= 2  # type: ignore[index]
                before = metric(client, "scheduler_replica_reads_total") or 0
                assert tasks_named(client, "anything") == 0
                assert (metric(client, "scheduler_replica_reads_total") or 0) > before

                # With replay paused the replica keeps what it had. A command that does not
                # wait (Prefer: return=minimal) is on the primary only...
                operator.execute("SELECT pg_wal_replay_pause()")
                quick = client.post(
                    "/api/tasks",
                    json={"name": "first-write", "command": "true"},
                    headers={"Prefer": "return=minimal"},
                )
                assert quick.status_code == 201, quick.text
                position = int(quick.headers["X-Log-Position"])
                wait_until(
                    lambda: primary_has(primary, "first-write"),
                    10,
                    "the primary's view lacks the task",
                )
                # ...so a plain read, served by the replica, does not see it yet,
                assert tasks_named(client, "first-write") == 0
                # while a read that must reflect the command waits (bounded) for the replica,
                # then reads from the primary.
                assert tasks_named(client, "first-write", min_position=position) == 1
                assert metric(
                    client, "scheduler_replica_fallbacks_total", reason="read_your_writes"
                )
                # A command's own answer too; and the reads after it stay on the primary
                # until the replica shows that write (held back), so none goes back in time.
                created = client.post(
                    "/api/tasks", json={"name": "second-write", "command": "true"}
                )
                assert created.status_code == 201, created.text
                assert created.json()["name"] == "second-write"
                assert "X-View-Stale" not in created.headers
                assert tasks_named(client, "second-write") == 1
                assert metric(client, "scheduler_replica_fallbacks_total", reason="held_back")
                paused = replica_check(client)
                assert paused["replay_paused"] is True and paused["status"] == "ok"
                wait_until(
                    lambda: (metric(client, "scheduler_replica_lag_bytes") or 0) > 0,
                    5,
                    "no replica lag in bytes while replay is paused",
                )

                # Replay resumes: the replica catches up and answers the reads itself again.
                operator.execute("SELECT pg_wal_replay_resume()")

                def served_by_replica() -> bool:
                    before = metric(client, "scheduler_replica_reads_total") or 0
                    seen = tasks_named(client, "second-write") == 1
                    return seen and (metric(client, "scheduler_replica_reads_total") or 0) > before

                wait_until(served_by_replica, 10, "the replica never served reads again")

                # The replica stops: reads are served by the primary, and /health says so.
                operator.close()
                standby.stop()
                assert tasks_named(client, "first-write") == 1
                wait_until(
                    lambda: replica_check(client)["status"] == "down",
                    10,
                    "the stopped replica was never reported down",
                )
                down = replica_check(client)
                assert down["status"] == "down" and down["serving"] == "primary"
                assert client.get("/health").json()["status"] == "lagging"
                assert metric(client, "scheduler_replica_up") == 0
                assert tasks_named(client, "first-write") == 1
                created = client.post("/api/tasks", json={"name": "later", "command": "true"})
                assert created.status_code == 201 and "X-View-Stale" not in created.headers
        finally:
            scheduler.stop()
