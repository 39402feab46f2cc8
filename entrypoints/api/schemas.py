"""HTTP request and response shapes (they become the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, get_args
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator

from domain.errors import InvalidFieldError
from domain.namespace import DEFAULT_NAMESPACE, MAX_NAMESPACES, checked_namespaces
from domain.scalars import Integer
from domain.secrets import mask_text, masked_entries, masked_payload, masked_spec
from domain.task_spec import (
    MAX_COMMAND_LENGTH,
    ExecutorName,
    Labels,
    SecretInput,
    ShortText,
    TaskSpec,
)
from domain.worker import WorkerProfile

KNOWN_EXECUTORS: tuple[str, ...] = get_args(ExecutorName)
MAX_ATTEMPT = 2**31 - 1  # attempts are counted from 1; a bigger one names nothing


def _optional_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, info in TaskSpec.model_fields.items():
        # The field's own constraints (bounds, no booleans for numbers) apply to a change too.
        annotation: Any = (
            Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        )
        fields[name] = (annotation | None, Field(None, description=info.description))
    return fields


TaskCreate = TaskSpec
TaskUpdate = create_model(  # every field optional; the merged definition is validated again
    "TaskUpdate",
    __config__=ConfigDict(extra="forbid"),
    __doc__="A partial change to a task's definition: only the fields sent are changed.",
    **_optional_fields(),
)


class TaskPublic(BaseModel):
    """A task as the read model holds it; secret values are always ***."""

    id: int | None = Field(description="Sequential number, 1, 2, 3… in creation order.")
    uuid: str
    name: str
    namespace: str = DEFAULT_NAMESPACE
    description: str = ""
    task_type: str = "batch"
    executor: str
    command: str
    args: list[str] = []
    env: dict[str, str] = Field({}, description="Secret values are shown as ***.")
    secret_env: list[str] = Field([], description="Names of env variables that are secret.")
    working_dir: str | None = None
    schedule: str | None = None
    timezone: str = "UTC"
    interval_seconds: int | None = None
    run_at: datetime | None = None
    jitter_seconds: int = 0
    remaining_runs: int | None = Field(
        None, description="Scheduled fires left (the dispatcher counts them down); null: no limit."
    )
    priority: str
    retry_count: int = 0
    retry_delay_seconds: float = 0
    retry_backoff: float = 1
    retry_max_delay_seconds: float = 0
    timeout_seconds: int = 0
    depends_on: list[str] = []
    concurrency_policy: str = "allow"
    concurrency_key: str | None = None
    max_concurrency_per_key: int = 1
    pause_after_failures: int | None = None
    misfire_policy: str = "fire_once"
    catchup_window_seconds: int = 0
    routing_strategy: str = "least_loaded"
    queue: str = "default"
    labels: dict[str, str] = {}
    http: dict[str, Any] | None = None
    status: str = Field(description="active, paused or deleted.")
    pause_reason: str | None = None
    version: int = Field(description="Aggregate version; send it as If-Match to update safely.")
    next_fire_at: datetime | None = Field(
        None, description="When the next slot's run is requested: its nominal time + jitter."
    )
    last_misfire: dict[str, Any] | None = Field(
        None,
        description="The latest slots not fired: first_nominal, last_nominal, count, reason, "
        "decided_at.",
    )
    created_at: datetime | None = None
    updated_at: datetime | None = None
    stats: dict[str, Any] | None = None
    quarantine: list[dict[str, Any]] | None = Field(
        None,
        description="Where this task is quarantined (consumer, position, error); "
        "see GET /api/system/quarantine.",
    )

    @model_validator(mode="before")
    @classmethod
    def _masked(cls, data: Any) -> Any:
        # The last guard: whatever a route built this from, no secret leaves but as ***.
        return masked_spec(data) if isinstance(data, dict) else data


class TasksPublic(BaseModel):
    """A page of tasks."""

    items: list[TaskPublic]
    total: int
    limit: int
    offset: int


class TriggerRequest(BaseModel):
    """Optional body of a manual trigger."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, Annotated[str, Field(max_length=MAX_COMMAND_LENGTH)] | SecretInput] = Field(
        default_factory=dict,
        description="Passed to the process as environment variables. Secret values as "
        '{"secret": "..."} or by a name like *TOKEN*, *PASSWORD*, *KEY*: stored encrypted, '
        "shown as ***.",
    )


class TriggerAccepted(BaseModel):
    """A run was requested."""

    run_id: str
    task_id: int | None
    task_uuid: str
    status: str
    created: bool = Field(description="False when an Idempotency-Key repeat found the run.")
    position: int | None = Field(description="Log position of the request event.")


class ReasonRequest(BaseModel):
    """A reason recorded with pause or delete."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", max_length=1_000)


class AttemptPublic(BaseModel):
    """One attempt of a run on one worker."""

    attempt: int
    worker_id: str | None
    status: str = Field(
        description="assigned, running, succeeded, failed, timed_out, cancelled or worker_lost."
    )
    assigned_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    error: str | None
    duration_seconds: float | None
    output: str | None = Field(
        None,
        description="Tail of the attempt's combined stdout and stderr, whatever ended it "
        "(also a timeout or a cancel); null until its worker reports it.",
    )


class RunPublic(BaseModel):
    """A run as the read model holds it."""

    id: str
    task_id: int | None
    task_uuid: str
    task_name: str
    namespace: str = DEFAULT_NAMESPACE
    task_version: int
    status: str
    attempt: int
    worker_id: str | None
    trigger: str
    nominal_time: datetime | None
    priority: str
    params: dict[str, str] = Field(description="Secret values are shown as ***.")
    requested_at: datetime | None
    assigned_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    exit_code: int | None
    output: str | None = Field(description="Tail of the combined stdout and stderr.")
    error: str | None
    reason: str | None = Field(
        description="Why a pending or retrying run waits, or why it was skipped or "
        "upstream_failed (from the events that decided it)."
    )
    correlation_id: str | None = Field(description="The batch: the root trigger's correlation id.")
    position: int
    parent_run_id: str | None = Field(None, description="On a shard: its broadcast run.")
    shard_index: int | None = Field(None, description="On a shard: 0-based index of this shard.")
    shard_total: int | None = Field(None, description="How many shards the broadcast has.")
    attempts: list[AttemptPublic] | None = Field(
        None, description="Every attempt with its worker and exit code (on GET of one run)."
    )
    quarantine: list[dict[str, Any]] | None = Field(
        None, description="Where it is quarantined (consumer, position, error), if anywhere."
    )

    @field_validator("params", mode="before")
    @classmethod
    def _masked(cls, params: Any) -> Any:
        return masked_entries(params) if isinstance(params, dict) else params


class RunsPublic(BaseModel):
    """A page of runs."""

    items: list[RunPublic]
    total: int
    limit: int
    offset: int


class EventPublic(BaseModel):
    """One stored event."""

    position: int | None
    type: str
    originator_id: str
    version: int
    timestamp: datetime | None = Field(description="None only for an event that cannot be read.")
    actor: str | None = Field(description="The authenticated caller: key:NAME, jwt:SUBJECT, ...")
    on_behalf_of: str | None = Field(
        None, description="What the caller claimed in X-Actor: unverified, for information."
    )
    correlation_id: str | None
    causation_id: str | None
    traceparent: str | None = Field(
        None, description="The W3C trace context the event was recorded in (docs/events.md)."
    )
    payload: dict[str, Any]
    error: str | None = Field(
        None, description="Why the stored event cannot be decoded (it is quarantined)."
    )

    @field_validator("payload", mode="before")
    @classmethod
    def _masked(cls, payload: Any) -> Any:
        return masked_payload(payload)


class TaskDiff(BaseModel):
    """Fields of a task that differ between two versions."""

    from_version: int
    to_version: int
    changes: dict[str, dict[str, Any]] = Field(
        description="field -> {from, to}; secret-looking env and header values are masked."
    )


class EventsPublic(BaseModel):
    """A page of the global log."""

    items: list[EventPublic]
    next_after: int
    head: int
    indexed_through: int | None = Field(
        None,
        description="With a filter: the log position the index has reached; a matching event"
        " after it is not found yet (page again, or wait).",
    )


class AssignedAfterLostItem(BaseModel):
    """One assignment made to a worker the log had already declared lost."""

    position: int
    run_id: str
    worker_id: str
    assigned_at: datetime | None
    lost_position: int = Field(description="Where the worker's Worker.Lost is in the log.")
    lost_at: datetime | None


class AssignedAfterLostPublic(BaseModel):
    """Runs assigned to a lost worker, oldest first."""

    items: list[AssignedAfterLostItem]
    indexed_through: int


class WorkerRegister(BaseModel):
    """What a worker says about itself when it joins (the seed's worker registration)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    hostname: str = Field("unknown", max_length=255)
    executors: list[ShortText] = Field(
        default_factory=lambda: ["shell"],
        min_length=1,
        max_length=20,
        description=f"Executors it runs, from {', '.join(KNOWN_EXECUTORS)}.",
    )
    queues: list[ShortText] = Field(default_factory=lambda: ["default"], max_length=100)
    labels: Labels = Field(default_factory=dict)
    max_concurrent_tasks: Integer = Field(5, ge=1, le=10_000)
    namespaces: list[Annotated[str, Field(max_length=63)]] = Field(
        default_factory=lambda: [DEFAULT_NAMESPACE],
        min_length=1,
        max_length=MAX_NAMESPACES,
        description='The namespaces whose runs it takes; ["*"]: every namespace (a key scoped '
        "to namespaces may register only for those).",
    )

    @field_validator("namespaces")
    @classmethod
    def _namespaces_are_names(cls, value: list[str]) -> list[str]:
        try:
            return checked_namespaces(value)
        except InvalidFieldError as error:
            raise ValueError(error.message) from None

    @field_validator("executors")
    @classmethod
    def _executors_are_known(cls, value: list[str]) -> list[str]:
        # A worker offering an executor nothing implements would be sent runs it cannot run.
        unknown = [name for name in value if name not in KNOWN_EXECUTORS]
        if unknown:
            raise ValueError(
                f"unknown executor {', '.join(map(repr, unknown))}; "
                f"known executors are {', '.join(KNOWN_EXECUTORS)}"
            )
        return list(dict.fromkeys(value))

    def to_profile(self) -> WorkerProfile:
        """The worker's profile as the domain takes it."""
        return WorkerProfile(**self.model_dump())


class RunningAttempt(BaseModel):
    """An attempt a worker is executing."""

    model_config = ConfigDict(extra="forbid")

    run_id: UUID
    attempt: Integer = Field(ge=1, le=MAX_ATTEMPT)


class WorkerHeartbeat(BaseModel):
    """A lease renewal, with the attempts the worker is running (stale ones get cancelled)."""

    model_config = ConfigDict(extra="forbid")

    running: list[RunningAttempt] = Field(default_factory=list, max_length=10_000)


class WorkerPublic(BaseModel):
    """A worker with its load and last heartbeat."""

    id: str
    name: str
    hostname: str
    status: str
    executors: list[str]
    queues: list[str]
    labels: dict[str, str]
    namespaces: list[str] = Field([DEFAULT_NAMESPACE], description='["*"]: every namespace.')
    max_concurrent_tasks: int
    running: int
    registered_at: datetime | None
    last_heartbeat_at: datetime | None
    quarantine: list[dict[str, Any]] | None = Field(
        None, description="Where it is quarantined (consumer, position, error), if anywhere."
    )


class QuarantineEntryPublic(BaseModel):
    """One aggregate a consumer of the log holds (or held)."""

    consumer: str = Field(description="projection:NAME, dispatcher:board|cron|dependencies")
    aggregate_id: str
    aggregate_type: str
    position: int = Field(description="Log position of the first event not applied.")
    topic: str
    error: str
    status: str = Field(description="held, released or resolved.")
    request: str | None = Field(description="retry or release, while a consumer has not acted.")
    requested_through: int | None
    released_through: int | None
    last_position: int | None = Field(description="The newest event of it seen while held.")
    held_count: int = Field(description="Events of the aggregate not applied.")
    failures: int
    first_failed_at: datetime
    last_failed_at: datetime
    resolved_at: datetime | None
    note: str | None

    @field_validator("error", mode="before")
    @classmethod
    def _masked(cls, error: Any) -> Any:
        # A consumer's error may quote what it read: URL passwords and secret=value hidden.
        return mask_text(error) if isinstance(error, str) else error


class QuarantinePublic(BaseModel):
    """The quarantine."""

    items: list[QuarantineEntryPublic]
    total: int


class QuarantineRequestAccepted(BaseModel):
    """A retry or release was asked of the consumers holding an aggregate."""

    aggregate_id: str
    action: str
    entries: int = Field(description="How many consumers hold it.")
    through: int = Field(description="The log head when asked (a release gives up to here).")
