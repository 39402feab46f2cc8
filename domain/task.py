"""The Task aggregate: a definition that operators create, edit, pause and delete."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from domain.aggregate import SchedulerAggregate
from domain.context import CommandContext
from domain.errors import IllegalTransitionError, InvalidFieldError, TaskDeletedError
from domain.namespace import namespace_of
from domain.statuses import TaskStatus
from domain.task_run import TaskRun
from domain.task_spec import SpecValidationError, TaskSpec, validate_spec, with_timing_fields
from domain.timing import timing_problem

EXHAUSTED = "remaining_runs is 0"  # why a task with a limit stops firing


class Task(SchedulerAggregate):
    """A schedulable unit of work; its definition changes only through these events."""

    TOPIC = "scheduler:Task"

    class Created(SchedulerAggregate.Created):
        TOPIC = "scheduler:Task.Created"
        status: ClassVar[TaskStatus] = TaskStatus.ACTIVE
        class_version = 2
        spec: dict[str, Any]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            """v2 specs name every timing field: v1 had cron only."""
            with_timing_fields(state["spec"])

        def apply(self, aggregate: Task) -> None:
            aggregate.spec = dict(self.spec)
            aggregate.status = self.status
            aggregate.pause_reason = None
            aggregate.misfires_until = None

    class Updated(SchedulerAggregate.Event):
        TOPIC = "scheduler:Task.Updated"
        changes: dict[str, Any]

        def apply(self, aggregate: Task) -> None:
            aggregate.spec = {**aggregate.spec, **self.changes}

    class Paused(SchedulerAggregate.Event):
        TOPIC = "scheduler:Task.Paused"
        status: ClassVar[TaskStatus] = TaskStatus.PAUSED
        reason: str

        def apply(self, aggregate: Task) -> None:
            aggregate.status = self.status
            aggregate.pause_reason = self.reason

    class Resumed(SchedulerAggregate.Event):
        TOPIC = "scheduler:Task.Resumed"
        status: ClassVar[TaskStatus] = TaskStatus.ACTIVE

        def apply(self, aggregate: Task) -> None:
            aggregate.status = self.status
            aggregate.pause_reason = None

    class MisfiresSkipped(SchedulerAggregate.Event):
        TOPIC = "scheduler:Task.MisfiresSkipped"
        first_nominal: datetime
        last_nominal: datetime
        count: int
        reason: str

        def apply(self, aggregate: Task) -> None:
            aggregate.misfires_until = self.last_nominal

    class Deleted(SchedulerAggregate.Event):
        TOPIC = "scheduler:Task.Deleted"
        status: ClassVar[TaskStatus] = TaskStatus.DELETED
        reason: str

        def apply(self, aggregate: Task) -> None:
            aggregate.status = self.status

    if TYPE_CHECKING:  # annotations only: the aggregate is not a dataclass
        spec: dict[str, Any]
        status: TaskStatus
        pause_reason: str | None
        misfires_until: datetime | None

    @classmethod
    def create(cls, task_id: UUID, spec: TaskSpec, ctx: CommandContext) -> Task:
        """Create a task from an already validated definition."""
        _ensure_run_at_ahead(spec, ctx)
        _ensure_timing_evaluates(spec, ctx)
        _ensure_secrets_sealed(spec, spec.unsealed_secrets())
        return cls._create_with(cls.Created, task_id, ctx, spec=spec.as_event_data())

    @property
    def name(self) -> str:
        """The task's current unique name."""
        return str(self.spec["name"])

    @property
    def namespace(self) -> str:
        """The namespace the task belongs to, for good."""
        return namespace_of(self.spec)

    @property
    def depends_on(self) -> list[str]:
        """The tasks (UUIDs as text) this task waits for in a batch."""
        return list(self.spec.get("depends_on") or [])

    @property
    def definition(self) -> TaskSpec:
        """The current definition as a validated value."""
        return validate_spec(self.spec)

    def update(self, changes: dict[str, Any], ctx: CommandContext) -> dict[str, Any]:
        """Apply a partial definition change; returns only the fields that really changed."""
        self._ensure_not_deleted()
        if "namespace" in changes and changes["namespace"] != self.namespace:
            raise InvalidFieldError(
                "namespace",
                f"a task's namespace cannot change (it is {self.namespace!r}); create the task "
                "in the other namespace and delete this one",
            )
        # The merged definition is what is validated, not the stored one first: a task stored
        # before a rule existed (a schedule that never fires) is repaired by this very update.
        definition = validate_spec({**self.spec, **changes})
        if "run_at" in changes:
            _ensure_run_at_ahead(definition, ctx)
        _ensure_timing_evaluates(definition, ctx)
        # Only what this update writes must be sealed: a value stored in plain text before
        # secrets were sealed stays readable (and is sealed by the next change of its field).
        unsealed = [p for p in definition.unsealed_secrets() if _touched(p, changes)]
        _ensure_secrets_sealed(definition, unsealed)
        new_spec = definition.as_event_data()
        effective = {k: v for k, v in new_spec.items() if _stored(self.spec, k) != v}
        if effective:
            self._record(self.Updated, ctx, changes=effective)
        return effective

    def pause(self, reason: str, ctx: CommandContext) -> None:
        """Stop the task from firing until resumed."""
        self._ensure_not_deleted()
        if self.status == TaskStatus.PAUSED:
            raise IllegalTransitionError(f"task {self.name!r}", self.status, "pause")
        self._record(self.Paused, ctx, reason=reason)

    def resume(self, ctx: CommandContext) -> None:
        """Let a paused task fire again."""
        self._ensure_not_deleted()
        if self.status != TaskStatus.PAUSED:
            raise IllegalTransitionError(f"task {self.name!r}", self.status, "resume")
        self._record(self.Resumed, ctx)

    def delete(self, reason: str, ctx: CommandContext) -> None:
        """Retire the task; its history stays in the log."""
        self._ensure_not_deleted()
        self._record(self.Deleted, ctx, reason=reason)

    def record_misfires(
        self, first: datetime, last: datetime, count: int, reason: str, ctx: CommandContext
    ) -> bool:
        """Record cron slots that were not fired and why; a repeat is ignored."""
        if self.misfires_until is not None and last <= self.misfires_until:
            return False
        self._record(
            self.MisfiresSkipped,
            ctx,
            first_nominal=first,
            last_nominal=last,
            count=count,
            reason=reason,
        )
        return True

    @property
    def remaining_runs(self) -> int | None:
        """How many more scheduled slots may fire, or None for no limit."""
        value = self.spec.get("remaining_runs")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def count_scheduled_run(self, run_id: UUID, ctx: CommandContext) -> bool:
        """Use one remaining scheduled run; the last one pauses the task, saying why."""
        remaining = self.remaining_runs
        if remaining is None:
            return False
        left = max(remaining - 1, 0)
        self._record(self.Updated, ctx, changes={"remaining_runs": left})
        if left == 0:
            self._record(self.Paused, ctx, reason=f"{EXHAUSTED}: the last one fired (run {run_id})")
        return True

    def stop_exhausted(self, ctx: CommandContext) -> None:
        """Pause an active task whose remaining scheduled runs are used up (e.g. resumed so)."""
        self._record(self.Paused, ctx, reason=f"{EXHAUSTED}: set remaining_runs to fire again")

    def request_run(
        self,
        run_id: UUID,
        trigger: str,
        ctx: CommandContext,
        nominal_time: datetime | None = None,
        params: dict[str, Any] | None = None,
    ) -> TaskRun:
        """Request a run of the task as it is now: the run keeps this version's definition."""
        self._ensure_not_deleted()
        return TaskRun.request(
            run_id,
            task_id=self.id,
            task_version=self.version,
            task=self.spec,
            trigger=trigger,
            ctx=ctx,
            nominal_time=nominal_time,
            params=params,
        )

    def ensure_can_run(self) -> None:
        """Refuse to start runs of a deleted task."""
        self._ensure_not_deleted()

    def _ensure_not_deleted(self) -> None:
        if self.status == TaskStatus.DELETED:
            raise TaskDeletedError(self.id)


def _ensure_timing_evaluates(spec: TaskSpec, ctx: CommandContext) -> None:
    # The next fires from the command's own time, as the dispatcher and the views will compute
    # them: a definition they cannot follow is refused here, never stored.
    problem = timing_problem(spec.as_event_data(), ctx.now)
    if problem is not None:
        raise SpecValidationError([(problem.field, problem.message)])


def _stored(spec: dict[str, Any], field: str) -> Any:
    # A field added after the event was stored (secret_env) holds its default: no change.
    if field in spec or field not in TaskSpec.model_fields:
        return spec.get(field)
    return TaskSpec.model_fields[field].get_default(call_default_factory=True)


def _touched(path: str, changes: dict[str, Any]) -> bool:
    # An env value is written again when env changes, or when secret_env makes it secret.
    fields = ("env", "secret_env") if path.startswith("env.") else (path.split(".", 1)[0],)
    return any(field in changes for field in fields)


def _ensure_secrets_sealed(spec: TaskSpec, unsealed: list[str]) -> None:
    # The application seals every secret before it reaches a command (application/secrets.py):
    # one still in plain text here would be stored so, and the log must never hold it.
    if unsealed:
        raise SpecValidationError(
            [(path, "a secret value must be sealed before it is stored") for path in unsealed]
        )


def _ensure_run_at_ahead(spec: TaskSpec, ctx: CommandContext) -> None:
    # A one-shot time already gone would never fire; say so instead of storing it.
    if spec.run_at is not None and spec.run_at <= ctx.now:
        raise SpecValidationError(
            [
                (
                    "run_at",
                    f"{spec.run_at.isoformat()} is not in the future (now {ctx.now.isoformat()})",
                )
            ]
        )


# The events that change a task's status after it was created, each with the status it leaves.
TASK_STATUS_CHANGES: tuple[type[SchedulerAggregate.Event], ...] = (
    Task.Paused,
    Task.Resumed,
    Task.Deleted,
)
