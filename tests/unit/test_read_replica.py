"""The read replica's routing, lag and settings, without servers (tests/e2e/test_read_replica.py
runs them on a real streaming replica)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import psycopg
import pytest
from psycopg_pool import PoolTimeout
from pydantic import ValidationError

from adapters.postgres.read_route import ReadRoute, Replica
from adapters.postgres.replica_monitor import LagClock, ReplicaMonitor
from entrypoints.settings import Settings


class FakeDatabase:
    """Read tables that answer from a dict of positions, or fail with `error`."""

    def __init__(self, positions: dict[str, int] | None = None) -> None:
        self.positions = positions or {}
        self.error: BaseException | None = None
        self.reads = 0
        self.writes = 0

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        self.reads += 1
        if self.error is not None:
            raise self.error
        return [{"projection": n, "position": p} for n, p in self.positions.items()]

    def one(self, sql: str, params: Any = None) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[str]:
        self.writes += 1
        yield "tx"

    def is_outage(self, error: BaseException) -> bool:
        return isinstance(error, PoolTimeout | psycopg.OperationalError)


class FakeMonitor:
    """A monitor whose verdict the test sets."""

    def __init__(self, status: str = "ok") -> None:
        self.status = status
        self.failures: list[BaseException] = []

    @property
    def state(self) -> Any:
        return type("State", (), {"status": self.status})()

    def usable(self) -> bool:
        return self.status == "ok"

    def failed(self, error: BaseException) -> None:
        self.failures.append(error)
        self.status = "down"


def routed(status: str = "ok") -> tuple[ReadRoute, FakeDatabase, FakeDatabase, list[str]]:
    primary, replica, counted = FakeDatabase({"tasks": 9}), FakeDatabase({"tasks": 5}), []
    monitor = FakeMonitor(status)
    replica_side = Replica(cast(Any, replica), cast(Any, monitor), counted.append)
    return replica_side.route(cast(Any, primary)), primary, replica, counted


def test_reads_go_to_a_usable_replica_and_writes_to_the_primary() -> None:
    route, primary, replica, counted = routed()
    assert route.query("SELECT 1") == [{"projection": "tasks", "position": 5}]
    with route.transaction():
        pass
    assert (replica.reads, primary.reads, primary.writes, replica.writes) == (1, 0, 1, 0)
    assert counted == ["replica"]


@pytest.mark.parametrize("status", ["down", "lagging", "unknown"])
def test_a_replica_down_lagging_or_not_yet_probed_leaves_reads_on_the_primary(
    status: str,
) -> None:
    route, primary, replica, counted = routed(status)
    assert route.one("SELECT 1") == {"projection": "tasks", "position": 9}
    assert (replica.reads, primary.reads, counted) == (0, 1, [status])


def test_a_replica_that_fails_a_read_is_skipped_and_the_read_retried_on_the_primary() -> None:
    route, _primary, replica, counted = routed()
    replica.error = psycopg.OperationalError("connection refused")
    assert route.query("SELECT 1") == [{"projection": "tasks", "position": 9}]
    monitor = cast(FakeMonitor, route._replica.monitor)
    assert monitor.failures == [replica.error] and not monitor.usable()
    assert counted == ["error"]


def test_a_busy_replica_pool_spills_to_the_primary_without_calling_the_replica_down() -> None:
    route, _primary, replica, counted = routed()
    replica.error = PoolTimeout("busy")
    assert route.query("SELECT 1")[0]["position"] == 9
    assert cast(FakeMonitor, route._replica.monitor).usable()
    assert counted == ["busy"]


def test_a_query_error_of_its_own_is_raised_not_retried_on_the_primary() -> None:
    route, primary, replica, _counted = routed()
    replica.error = ValueError("bad SQL")
    with pytest.raises(ValueError, match="bad SQL"):
        route.query("SELECT nonsense")
    assert primary.reads == 0


def test_read_your_writes_waits_for_the_replica_tracking_rows() -> None:
    route, _primary, _replica, _counted = routed()
    assert route.replica_reached(5, ["tasks"], timeout=0.0)
    assert route.serving == "replica"
    assert not route.replica_reached(6, ["tasks"], timeout=0.05)  # polled, then given up
    route.use_primary()
    assert route.serving == "primary"
    assert route.positions() == {"tasks": 9}  # a page renders the primary's positions


def test_a_write_the_replica_did_not_show_in_time_holds_later_reads_on_the_primary() -> None:
    route, primary, replica, counted = routed()
    route.use_primary(7, ["tasks"])  # a request's replica wait for position 7 gave up
    later = route._replica.route(cast(Any, primary))
    assert later.serving == "primary"
    later.query("SELECT 1")
    assert counted == ["read_your_writes", "held_back"]
    route._replica.release_caught_up()  # the replica's tasks view is at 5: still behind
    assert later.serving == "primary"
    replica.positions["tasks"] = 7
    route._replica.release_caught_up()
    assert route._replica.route(cast(Any, primary)).serving == "replica"


def test_a_write_made_while_the_replica_is_skipped_holds_it_back_until_it_shows_it() -> None:
    route, primary, replica, _counted = routed("down")
    assert route.replica_reached(8, ["tasks"], timeout=1.0)  # reads are on the primary anyway
    monitor = cast(FakeMonitor, route._replica.monitor)
    monitor.status = "ok"  # back, but its tasks view is still at 5
    route._replica.release_caught_up()
    assert route._replica.route(cast(Any, primary)).serving == "primary"
    replica.positions["tasks"] = 8
    route._replica.release_caught_up()
    assert route._replica.route(cast(Any, primary)).serving == "replica"


def test_lag_is_zero_on_an_idle_pair_and_grows_while_replay_is_behind() -> None:
    clock = LagClock()
    assert clock.observe(100.0, primary=50, replayed=50) == 0.0
    assert clock.observe(101.0, primary=60, replayed=50) == 0.0  # behind since this probe
    assert clock.observe(103.5, primary=70, replayed=55) == pytest.approx(2.5)
    assert clock.observe(104.0, primary=70, replayed=65) == pytest.approx(0.5)  # 60 replayed
    assert clock.observe(105.0, primary=70, replayed=70) == 0.0


class FakeConnection:
    def __init__(self, row: tuple[Any, ...]) -> None:
        self.row, self.closed = row, False

    def execute(self, sql: str) -> FakeConnection:
        return self

    def fetchone(self) -> tuple[Any, ...]:
        return self.row

    def close(self) -> None:
        self.closed = True


def monitor_of(row: tuple[Any, ...] | None, primary_lsn: int, now: list[float]) -> ReplicaMonitor:
    def connect() -> Any:
        if row is None:
            raise psycopg.OperationalError("connection refused")
        return FakeConnection(row)

    primary = FakeDatabase()
    primary.one = lambda sql, params=None: {"lsn": primary_lsn}  # type: ignore[method-assign]
    return ReplicaMonitor(connect, cast(Any, primary), max_lag_seconds=2.0, clock=lambda: now[0])


def test_the_monitor_calls_a_replica_lagging_beyond_the_bound_and_down_when_unreachable() -> None:
    now = [10.0]
    monitor = monitor_of((True, 100, False), primary_lsn=150, now=now)
    assert monitor.probe().status == "ok" and monitor.state.lag_bytes == 50
    now[0] = 13.0
    state = monitor.probe()
    assert (state.status, state.lag_seconds) == ("lagging", 3.0)
    assert not monitor.usable()
    down = monitor_of(None, primary_lsn=150, now=now).probe()
    assert down.status == "down" and "connection refused" in (down.error or "")


def test_a_server_that_is_not_in_recovery_counts_as_caught_up() -> None:
    state = monitor_of((False, None, False), primary_lsn=150, now=[0.0]).probe()
    assert (state.status, state.lag_seconds, state.in_recovery) == ("ok", 0.0, False)


def test_read_url_needs_postgresql_on_both_sides() -> None:
    with pytest.raises(ValidationError, match="read replica must be PostgreSQL"):
        Settings.model_validate(
            {"database": {"url": "postgresql://u@h/db", "read_url": "sqlite:///./r.db"}}
        )
    with pytest.raises(ValidationError, match="SQLite has no replicas"):
        Settings.model_validate({"database": {"read_url": "postgresql://u@h/db"}})


def test_the_replica_inherits_the_tls_keys_and_its_password_is_a_secret() -> None:
    settings = Settings.model_validate(
        {
            "database": {
                "url": "postgresql://u:primary-pw@h/db",
                "read_url": "postgresql://r:replica-pw@replica:5433/db",
                "sslmode": "require",
            }
        }
    )
    assert settings.read_conninfo == {
        "dbname": "db",
        "host": "replica",
        "port": 5433,
        "user": "r",
        "password": "replica-pw",
        "sslmode": "require",
    }
    assert "replica-pw" in settings.connection_secrets
    assert "replica-pw" not in str(settings.masked())
    assert Settings().read_conninfo is None
