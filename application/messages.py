"""Messages on the bus: deliveries to workers, reports and heartbeats back. Never a record."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_serializer, field_validator

from domain.worker import WorkerProfile

ReportKind = Literal[
    "started", "output", "succeeded", "failed", "registered", "draining", "deregistered"
]
ControlKind = Literal["recorded", "drain", "cancel", "rejoin"]
FINAL_REPORTS = frozenset({"succeeded", "failed"})
TRACEPARENT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"  # W3C trace context, version 00


def _traceparent() -> Any:
    return Field(default=None, pattern=TRACEPARENT)


class BusMessage(BaseModel):
    """A message that crosses a process: checked by pydantic as it comes in, JSON as it goes.

    Like the dataclasses these were, the fields may also be given in order:
    `Control("cancel", worker_id, run_id, attempt)`. Type checkers see pydantic's keyword-only
    `__init__`, so a message built in order declares its signature for them (under
    TYPE_CHECKING, in field order: tests/unit/test_bus_messages.py checks it).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    TYPE: ClassVar[str]  # the wire form's "type", which tells inbox messages apart

    def __init__(self, *values: Any, **fields: Any) -> None:
        names = list(type(self).model_fields)
        if len(values) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} fields in order")
        for name, value in zip(names, values, strict=False):
            if name in fields:
                raise TypeError(f"{type(self).__name__} got {name!r} in order and by name")
            fields[name] = value
        super().__init__(**fields)

    # Validation (model_validate, validate_json) gives fields by name, so it need not go
    # through the positional mapping above: marked as pydantic's own __init__, it is skipped
    # there instead of validating every message twice (half the bus's consume time).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def to_dict(self) -> dict[str, Any]:
        """The wire form: its `type`, then every field in order, JSON-ready."""
        wire = {"type": self.TYPE, **self.model_dump(mode="json")}
        if "traceparent" in wire and wire["traceparent"] is None:
            del wire["traceparent"]  # so a message without one is what it always was
        return wire

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Parse the wire form.

        Raises:
            pydantic.ValidationError: a field is missing, malformed or unknown to this message.
        """
        return cls.model_validate({k: v for k, v in data.items() if k != "type"})


class Delivery(BusMessage):
    """Tells a worker to run one attempt of a run."""

    TYPE = "delivery"

    run_id: UUID
    attempt: int
    worker_id: UUID
    task_name: str
    executor: str
    command: str
    args: tuple[str, ...] = ()
    # Out of the repr: they hold the task's secrets in plain text.
    env: dict[str, str] = Field(default_factory=dict, repr=False)
    working_dir: str | None = None
    timeout_seconds: int = 0
    params: dict[str, str] = Field(default_factory=dict, repr=False)
    http: dict[str, Any] | None = Field(default=None, repr=False)
    shard_index: int | None = None  # set on a shard of a broadcast run
    shard_total: int | None = None
    # The secret values among env, params and headers: the worker masks them in what it
    # reports (output, error). Plain text, like the values themselves, only on the bus.
    secrets: tuple[str, ...] = Field(default=(), repr=False)
    traceparent: str | None = _traceparent()  # the dispatcher's decision: the worker's parent


class Control(BusMessage):
    """Tells a worker something about its work: a report was recorded, drain, cancel."""

    # Fields a newer sender adds are ignored, as this message always did.
    model_config = ConfigDict(extra="ignore")
    TYPE = "control"

    kind: ControlKind
    worker_id: UUID
    run_id: UUID | None = None
    attempt: int = 0

    if TYPE_CHECKING:

        def __init__(
            self,
            kind: ControlKind,
            worker_id: UUID,
            run_id: UUID | None = None,
            attempt: int = 0,
        ) -> None: ...


class Report(BusMessage):
    """A worker's account: it joined or is leaving, or an attempt started, printed or ended."""

    TYPE = "report"

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
    traceparent: str | None = _traceparent()  # the worker's execution: the recording's parent
    # On an output report (the attempt's output so far): its number within the attempt, so
    # an older one recorded after a newer one (another dispatcher) is dropped.
    sequence: int = 0

    if TYPE_CHECKING:

        def __init__(
            self,
            kind: ReportKind,
            run_id: UUID | None,
            attempt: int,
            worker_id: UUID,
            pid: int | None = None,
            exit_code: int | None = None,
            error: str | None = None,
            duration_seconds: float = 0.0,
            output: str = "",
            profile: WorkerProfile | None = None,
            timed_out: bool = False,
            hostname: str | None = None,
            started_at: datetime | None = None,
            traceparent: str | None = None,
            sequence: int = 0,
        ) -> None: ...

    @field_validator("profile", mode="before")
    @classmethod
    def _profile_from_fields(cls, value: Any, info: ValidationInfo) -> Any:
        # As it comes off the wire: a field an older worker left out takes its old default.
        worker_id = info.data.get("worker_id")
        if isinstance(value, Mapping) and isinstance(worker_id, UUID):
            return WorkerProfile.from_dict(value, worker_id)
        return value

    @field_serializer("profile")
    def _profile_fields(self, profile: WorkerProfile | None) -> dict[str, Any] | None:
        return profile.as_dict() if profile is not None else None

    @field_serializer("started_at")
    def _isoformat(self, started_at: datetime | None) -> str | None:
        # Python's ISO form (+00:00), as workers always sent it; pydantic's own writes Z.
        return started_at.isoformat() if started_at is not None else None

    def to_dict(self) -> dict[str, Any]:
        """The wire form; `sequence` only on an output report, so the others read as before."""
        data = super().to_dict()
        if self.kind != "output":
            del data["sequence"]
        return data

    @property
    def is_final(self) -> bool:
        """Whether this report ends an attempt."""
        return self.kind in FINAL_REPORTS


class Heartbeat(BusMessage):
    """A worker is alive and holds these attempts; renews its lease at every dispatcher."""

    # Fields a newer sender adds are ignored, as this message always did.
    model_config = ConfigDict(extra="ignore")
    TYPE = "heartbeat"

    worker_id: UUID
    name: str = ""
    running: tuple[tuple[UUID, int], ...] = ()
    draining: bool = False

    if TYPE_CHECKING:

        def __init__(
            self,
            worker_id: UUID,
            name: str = "",
            running: tuple[tuple[UUID, int], ...] = (),
            draining: bool = False,
        ) -> None: ...


def inbox_message_from_dict(data: Mapping[str, Any]) -> Delivery | Control:
    """Parse a message from a worker's inbox.

    Raises:
        pydantic.ValidationError: the message is neither a readable control nor delivery.
    """
    return Control.from_dict(data) if data.get("type") == "control" else Delivery.from_dict(data)
