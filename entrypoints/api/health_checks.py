"""The checks /health reports: projections, dispatch, the quarantine; secrets masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from adapters.postgres.replica_monitor import ReplicaMonitor
from application.quarantine import QuarantineLedger
from entrypoints.redaction import redact
from projections.dispatcher_status import read_dispatchers
from projections.ports import Database, EventLog
from projections.runner import ProjectionRunner
from projections.status import now_utc, read_states

HEALTH_SHOWN = 20  # quarantined aggregates named by /health (all of them: /api/system/quarantine)


@dataclass(frozen=True)
class HealthConfig:
    """The settings /health reads."""

    queue_type: str  # [message_queue] type
    secrets: tuple[str, ...]  # the database and bus passwords, masked in every check
    dispatcher_stale_after: timedelta  # [dispatcher] stale_after_seconds


def redacted(value: Any, secrets: tuple[str, ...]) -> Any:
    """Driver errors quoted in the checks, with the database and bus passwords masked."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: redacted(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v, secrets) for v in value]
    return value


def projection_checks(
    database: Database, log: EventLog, runners: list[ProjectionRunner]
) -> dict[str, dict[str, Any]]:
    """Each projection's position, lag and last error; degraded if failing, far behind or stuck."""
    in_process = {r.projection.name: r.status.last_error for r in runners}
    states = read_states(database, log, [r.projection for r in runners])
    now = now_utc()
    checks = {}
    for state in states:
        # The stored error is seen by every process; this process's own may not be stored yet.
        state.last_error = state.last_error or in_process.get(state.name)
        problem = state.problem(now)
        checks[state.name] = {
            "status": "degraded" if problem else "ok",
            "position": state.position,
            "lag": state.lag,
            "last_error": state.last_error,
            "last_error_at": state.last_error_at.isoformat() if state.last_error_at else None,
            "reason": problem,
        }
    return checks


def dispatch_check(database: Database, stale_after: timedelta) -> dict[str, Any]:
    """Whether some dispatcher beats and completes its rounds; each one's last beat."""
    now = now_utc()
    dispatchers = [d.as_record(now, stale_after) for d in read_dispatchers(database, now)]
    working = [d for d in dispatchers if d["status"] in ("running", "starting")]
    if working:
        return {"status": "ok", "dispatchers": dispatchers}
    reason = (
        "no dispatcher has ever beaten"
        if not dispatchers
        else "no dispatcher is running: "
        + ", ".join(f"{d['name']} {d['status']}" for d in dispatchers)
    )
    return {"status": "degraded", "reason": reason, "dispatchers": dispatchers}


def quarantine_check(quarantine: QuarantineLedger) -> dict[str, Any]:
    """How many aggregates are held, and the first HEALTH_SHOWN of them with their consumers.

    One aggregate is often held by several consumers (every view and book that reads it):
    it is named once, so the first aggregates shown are distinct ones.
    """
    entries = quarantine.entries()
    held: dict[str, dict[str, Any]] = {}
    for e in entries:
        shown = held.get(e.aggregate_id)
        if shown is None:
            held[e.aggregate_id] = {
                "consumer": e.consumer,
                "consumers": [e.consumer],
                "aggregate_id": e.aggregate_id,
                "aggregate_type": e.aggregate_type,
                "position": e.position,
                "error": e.error,
            }
        else:
            shown["consumers"].append(e.consumer)
            shown["position"] = min(shown["position"], e.position)
    return {
        "status": "ok" if not entries else "quarantined",
        "count": len(held),
        "entries": len(entries),
        "aggregates": list(held.values())[:HEALTH_SHOWN],
    }


def replica_check(monitor: ReplicaMonitor) -> dict[str, Any]:
    """The read replica as last probed: ok (reads go to it), lagging (behind by more than
    read_max_lag_seconds), down or unknown (both: reads go to the primary)."""
    record = monitor.state.as_record()
    record["max_lag_seconds"] = monitor.max_lag_seconds
    if record["status"] == "lagging":
        record["reason"] = (
            f"replayed {record['lag_seconds']} s behind the primary, beyond "
            f"read_max_lag_seconds ({monitor.max_lag_seconds}): reads go to the primary"
        )
    elif record["status"] in ("down", "unknown"):
        record["reason"] = "the replica cannot be read: reads go to the primary"
    return record
