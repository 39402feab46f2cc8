"""Messages on the bus: deliveries to workers, reports and heartbeats back. Never a record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from domain.worker import WorkerProfile

ReportKind = Literal["started", "succeeded", "failed", "registered", "draining", "deregistered"]
ControlKind = Literal["recorded", "drain", "cancel", "rejoin"]
FINAL_REPORTS = frozenset({"succeeded", "failed"})


@dataclass(frozen=True)
class Delivery:
    """Tells a worker to run one attempt of a run."""

    run_id: UUID
    attempt: int
    worker_id: UUID
    task_name: str
    executor: str
    command: str
    args: tuple[str, ...] = ()
    # Out of the repr: they hold the task's secrets in plain text.
    env: dict[str, str] = field(default_factory=dict, repr=False)
    working_dir: str | None = None
    timeout_seconds: int = 0
    params: dict[str, str] = field(default_factory=dict, repr=False)
    http: dict[str, Any] | None = field(default=None, repr=False)
    shard_index: int | None = None  # set on a shard of a broadcast run
    shard_total: int | None = None
    # The secret values among env, params and headers: the worker masks them in what it
    # reports (output, error). Plain text, like the values themselves, only on the bus.
    secrets: tuple[str, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["run_id"], data["worker_id"] = str(self.run_id), str(self.worker_id)
        data["args"], data["secrets"] = list(self.args), list(self.secrets)
        return {"type": "delivery", **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        """Parse the JSON-ready form."""
        fields = {k: v for k, v in data.items() if k != "type"}
        return cls(
            **{
                **fields,
                "run_id": UUID(fields["run_id"]),
                "worker_id": UUID(fields["worker_id"]),
                "args": tuple(fields.get("args", ())),
                "secrets": tuple(fields.get("secrets", ())),
            }
        )


@dataclass(frozen=True)
class Control:
    """Tells a worker something about its work: a report was recorded, drain, cancel."""

    kind: ControlKind
    worker_id: UUID
    run_id: UUID | None = None
    attempt: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "type": "control",
            "kind": self.kind,
            "worker_id": str(self.worker_id),
            "run_id": str(self.run_id) if self.run_id else None,
            "attempt": self.attempt,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Control:
        """Parse the JSON-ready form."""
        return cls(
            kind=data["kind"],
            worker_id=UUID(data["worker_id"]),
            run_id=UUID(data["run_id"]) if data.get("run_id") else None,
            attempt=int(data.get("attempt", 0)),
        )


@dataclass(frozen=True)
class Report:
    """A worker's account: it joined or is leaving, or an attempt started or ended."""

    kind: ReportKind
    run_id: UUID | None
    attempt: int
    worker_id: UUID
    pid: int | None = None
    exit_code: int | None = None
    error: str | None = None
    duration_seconds: float = 0.0
    output: str = ""
    profile: WorkerProfile | None = None  # on a registration; a dict is read as its fields
    timed_out: bool = False
    # How the attempt started, on its start report and repeated on its final report, so a
    # final report recorded first (another dispatcher, a lost start) still records the start.
    hostname: str | None = None
    started_at: datetime | None = None  # the worker's clock

    def __post_init__(self) -> None:
        if isinstance(self.profile, Mapping):  # as it comes off the wire
            object.__setattr__(
                self, "profile", WorkerProfile.from_dict(self.profile, self.worker_id)
            )

    @property
    def is_final(self) -> bool:
        """Whether this report ends an attempt."""
        return self.kind in FINAL_REPORTS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["run_id"] = str(self.run_id) if self.run_id else None
        data["worker_id"] = str(self.worker_id)
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        data["profile"] = self.profile.as_dict() if self.profile else None
        return {"type": "report", **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Parse the JSON-ready form (a report of an older worker lacks the start fields)."""
        fields = {k: v for k, v in data.items() if k != "type"}
        started_at = fields.get("started_at")
        return cls(
            **{
                **fields,
                "run_id": UUID(fields["run_id"]) if fields.get("run_id") else None,
                "worker_id": UUID(fields["worker_id"]),
                "started_at": datetime.fromisoformat(started_at) if started_at else None,
            }
        )


@dataclass(frozen=True)
class Heartbeat:
    """A worker is alive and holds these attempts; renews its lease at every dispatcher."""

    worker_id: UUID
    name: str
    running: tuple[tuple[UUID, int], ...] = ()
    draining: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "type": "heartbeat",
            "worker_id": str(self.worker_id),
            "name": self.name,
            "running": [[str(r), a] for r, a in self.running],
            "draining": self.draining,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Heartbeat:
        """Parse the JSON-ready form."""
        return cls(
            worker_id=UUID(data["worker_id"]),
            name=str(data.get("name", "")),
            running=tuple((UUID(r), int(a)) for r, a in data.get("running", [])),
            draining=bool(data.get("draining", False)),
        )


def inbox_message_from_dict(data: dict[str, Any]) -> Delivery | Control:
    """Parse a message from a worker's inbox."""
    return Control.from_dict(data) if data.get("type") == "control" else Delivery.from_dict(data)
