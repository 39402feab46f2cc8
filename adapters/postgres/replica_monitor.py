"""How far a streaming replica is behind its primary, probed once a second in a thread."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import psycopg

from projections.ports import Database

logger = logging.getLogger(__name__)

PROBE_SECONDS = 1.0  # lag is known to about this precision
PRIMARY_LSN = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint AS lsn"
# pg_is_wal_replay_paused() raises on a server that is not in recovery: CASE keeps it unasked.
REPLICA_STATE = """
SELECT pg_is_in_recovery() AS recovery,
       pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint AS replayed,
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused
"""
MAX_SAMPLES = 3600  # an hour of probes behind; older ones merge into the oldest kept
Status = Literal["unknown", "ok", "lagging", "down"]


@dataclass(frozen=True)
class ReplicaState:
    """What the last probe found."""

    status: Status
    lag_seconds: float | None = None
    lag_bytes: int | None = None
    in_recovery: bool | None = None  # False: read_url names a server that is no standby
    replay_paused: bool = False
    error: str | None = None

    def as_record(self) -> dict[str, Any]:
        """For /health."""
        return {
            "status": self.status,
            "serving": "replica" if self.status == "ok" else "primary",
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "lag_bytes": self.lag_bytes,
            "in_recovery": self.in_recovery,
            "replay_paused": self.replay_paused,
            "error": self.error,
        }


class LagClock:
    """Seconds the replica has been missing WAL that the primary had: now minus the time of
    the oldest probe whose primary position the replica has not replayed yet.

    Unlike `now() - pg_last_xact_replay_timestamp()` it reads 0 on an idle pair instead of
    the time since the last commit.
    """

    def __init__(self) -> None:
        self._samples: deque[tuple[float, int]] = deque()  # (when, primary position)

    def observe(self, now: float, primary: int, replayed: int) -> float:
        """Record the primary's position at `now`; the lag given what the replica replayed."""
        self._samples.append((now, primary))
        while self._samples and self._samples[0][1] <= replayed:
            self._samples.popleft()
        if len(self._samples) > MAX_SAMPLES:
            oldest = self._samples.popleft()
            self._samples.popleft()
            self._samples.appendleft(oldest)
        return now - self._samples[0][0] if self._samples else 0.0


class ReplicaMonitor:
    """Probes the replica on a connection of its own (not taken from the readers' pool) and
    the primary's WAL position on the primary's pool; readers ask `usable()`."""

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        primary: Database,
        max_lag_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connect = connect
        self._primary = primary
        self.max_lag_seconds = max_lag_seconds
        self._clock = clock
        self._connection: psycopg.Connection[Any] | None = None
        self._lag = LagClock()
        self.state = ReplicaState("unknown")

    def usable(self) -> bool:
        """Whether reads may go to the replica: reachable and within read_max_lag_seconds."""
        return self.state.status == "ok"

    def failed(self, error: BaseException) -> None:
        """A reader lost the replica: skip it until the next probe reaches it."""
        self.state = ReplicaState("down", error=_describe(error))

    def probe(self) -> ReplicaState:
        """Measure once and remember the result."""
        try:
            primary = self._primary.one(PRIMARY_LSN)
        except Exception as error:  # the primary's own trouble is for its own checks
            logger.debug("replica probe: primary position unreadable: %s", error)
            primary = None
        try:
            row = self._replica_row()
        except Exception as error:
            self.close()
            self.state = ReplicaState("down", error=_describe(error))
            return self.state
        self.state = self._judge(row, None if primary is None else int(primary["lsn"]))
        return self.state

    def _judge(self, row: tuple[Any, ...], primary: int | None) -> ReplicaState:
        recovery, replayed, paused = bool(row[0]), row[1], bool(row[2])
        if not recovery or replayed is None:  # no standby: nothing to replay, nothing behind
            return ReplicaState("ok", 0.0, 0, in_recovery=recovery)
        if primary is None:
            return ReplicaState("unknown", None, None, True, paused, "primary unreadable")
        lag = self._lag.observe(self._clock(), primary, int(replayed))
        status: Status = "lagging" if lag > self.max_lag_seconds else "ok"
        return ReplicaState(status, lag, max(primary - int(replayed), 0), True, paused)

    def _replica_row(self) -> tuple[Any, ...]:
        if self._connection is None or self._connection.closed:
            self._connection = self._connect()
        row = self._connection.execute(REPLICA_STATE).fetchone()
        assert row is not None
        return tuple(row)

    def close(self) -> None:
        """Close the probe's connection (the next probe opens another)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def connector(conninfo: str, options: dict[str, Any]) -> Callable[[], psycopg.Connection[Any]]:
    """Opens the probe's autocommit connection to the replica, named and timed out as ours."""
    return partial(psycopg.connect, conninfo, autocommit=True, **options)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip() or 'no detail'}"
