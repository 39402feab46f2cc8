"""What the overview and the system page show of the system: views, dispatchers, quarantine."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends

from adapters.audit_chain import SqlChainStore
from application.quarantine import QuarantineLedger
from entrypoints.api.deps import (
    AppDep,
    HealthConfigDep,
    QuarantineDep,
    ReadDatabaseDep,
    RunnersDep,
)
from projections.dispatcher_status import read_dispatchers
from projections.ports import Database, EventLog
from projections.runner import ProjectionRunner
from projections.status import now_utc, read_states


class SystemStatus:
    """Each projection's position and lag, the dispatchers heard from, the held aggregates."""

    def __init__(
        self,
        database: Database,
        log: EventLog,
        runners: list[ProjectionRunner],
        quarantine: QuarantineLedger,
        stale_after: timedelta,
    ) -> None:
        self._db = database
        self._log = log
        self._runners = runners
        self._quarantine = quarantine
        self._stale_after = stale_after

    def projections(self) -> list[dict[str, Any]]:
        """Each projection's position, lag and problem (as /health reports them)."""
        states = read_states(self._db, self._log, [r.projection for r in self._runners])
        now = now_utc()
        return [
            {
                "name": s.name,
                "position": s.position,
                "lag": s.lag,
                "problem": s.problem(now),
                "rebuilt_at": s.rebuilt_at,
            }
            for s in states
        ]

    def dispatchers(self) -> list[dict[str, Any]]:
        """Every dispatcher heard from lately, with its status."""
        now = now_utc()
        return [d.as_record(now, self._stale_after) for d in read_dispatchers(self._db, now)]

    def audit_head(self) -> str | None:
        """The tamper-evidence chain's head as `scheduler audit head` prints it (None: empty)."""
        if not self._db.has_table("audit_chain"):
            return None
        link = SqlChainStore(self._db).head()
        return f"{link.position}:{link.hash.hex()}" if link else None

    def quarantine(self) -> list[Any]:
        """The aggregates held by a consumer of the log."""
        return self._quarantine.entries()


def system_status(
    database: ReadDatabaseDep,
    app: AppDep,
    runners: RunnersDep,
    quarantine: QuarantineDep,
    config: HealthConfigDep,
) -> SystemStatus:
    """The status the pages read, from the process's objects."""
    return SystemStatus(database, app, runners, quarantine, config.dispatcher_stale_after)


StatusDep = Annotated[SystemStatus, Depends(system_status)]
