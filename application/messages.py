"""Messages on the bus: deliveries to workers and reports back. Never a record."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from uuid import UUID

ReportKind = Literal["started", "succeeded", "failed"]


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
    env: dict[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    timeout_seconds: int = 0
    params: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["run_id"], data["worker_id"] = str(self.run_id), str(self.worker_id)
        data["args"] = list(self.args)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Delivery:
        """Parse the JSON-ready form."""
        return cls(
            **{
                **data,
                "run_id": UUID(data["run_id"]),
                "worker_id": UUID(data["worker_id"]),
                "args": tuple(data.get("args", ())),
            }
        )


@dataclass(frozen=True)
class Report:
    """A worker's account of an attempt: it started, or it ended one way or the other."""

    kind: ReportKind
    run_id: UUID
    attempt: int
    worker_id: UUID
    pid: int | None = None
    exit_code: int | None = None
    error: str | None = None
    duration_seconds: float = 0.0
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["run_id"], data["worker_id"] = str(self.run_id), str(self.worker_id)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Parse the JSON-ready form."""
        return cls(**{**data, "run_id": UUID(data["run_id"]), "worker_id": UUID(data["worker_id"])})
