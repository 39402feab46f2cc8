"""Task commands: create, edit, roll back, pause, resume, delete; names, numbers, cycles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from application.commands.base import CommandsBase
from application.results import CommandResult
from domain.context import CommandContext
from domain.errors import InvalidFieldError, NotFoundError, TaskNameTakenError, VersionMismatchError
from domain.ids import is_task_number, parse_uuid
from domain.namespace import DEFAULT_NAMESPACE
from domain.statuses import TaskStatus
from domain.task import Task
from domain.task_name import TaskName
from domain.task_spec import TaskSpec, validate_spec

MAX_NUMBER_DIGITS = 12  # task numbers are 32-bit: longer digit strings name no task


class TaskCommands(CommandsBase):
    """A task's definition and its name reservation change only here."""

    def create_task(self, spec: TaskSpec, ctx: CommandContext) -> CommandResult:
        """Create a task and reserve its name in one atomic save.

        Raises:
            TaskNameTakenError: another live task has the name.
        """
        self.ensure_namespace(spec.namespace)
        task_id = self._new_id()
        if spec.secret_inputs():  # validated again once sealed; without secrets, as it is
            spec = validate_spec(self._sealer.definition(task_id, spec.model_dump()))
        task = Task.create(task_id, spec, ctx)
        self._check_upstreams(task.id, spec.name, spec.depends_on, spec.namespace)
        name = self._claim_name(spec.name, task.id, ctx, spec.namespace)
        return CommandResult(task.id, self._save_or_name_taken(spec.name, task, name))

    def update_task(
        self,
        task_id: UUID,
        changes: dict[str, Any],
        ctx: CommandContext,
        expected_version: int | None = None,
    ) -> CommandResult:
        """Change part of a task's definition; a rename moves the name reservation."""
        task = self.get_task(task_id)
        if expected_version is not None and expected_version != task.version:
            raise VersionMismatchError(expected_version, task.version)
        old_name = task.name
        effective = task.update(self._sealer.changes(task.id, task.spec, changes), ctx)
        if "depends_on" in effective:
            self._check_upstreams(task.id, task.name, task.depends_on, task.namespace)
        touched: list[Any] = [task]
        if "name" in effective:
            old_index: TaskName = self.repository.get(TaskName.id_for(old_name, task.namespace))
            old_index.release(ctx)
            touched += [old_index, self._claim_name(task.name, task.id, ctx, task.namespace)]
        position = self._save_or_name_taken(task.name, *touched) if effective else None
        return CommandResult(task.id, position, created=False)

    def rollback_task(self, task_id: UUID, version: int, ctx: CommandContext) -> CommandResult:
        """Restore the definition a task had at `version`, recorded as a new update.

        The restored definition is validated as it stands today: a `run_at` now in the past
        or an upstream since deleted is refused, naming the field.
        """
        current = self.get_task(task_id)
        if not 1 <= version <= current.version:
            raise InvalidFieldError("version", f"task has versions 1 to {current.version}")
        old = self.get_task(task_id, version=version)
        changes = {k: v for k, v in old.spec.items() if current.spec.get(k) != v}
        return self.update_task(task_id, changes, ctx)

    def reseal_task(self, task_id: UUID, ctx: CommandContext) -> CommandResult:
        """Seal every secret of a task's definition with the current key (after a rotation);
        one stored in plain text before secrets were sealed is sealed too. Nothing is
        recorded when all already are."""
        task = self.get_task(task_id)
        changes = {k: task.spec[k] for k in ("env", "http") if task.spec.get(k)}
        return self.update_task(task_id, changes, ctx) if changes else CommandResult(task_id, None)

    def pause_task(self, task_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Pause a task."""
        task = self.get_task(task_id)
        task.pause(reason, ctx)
        return CommandResult(task.id, self._position(self.save(task)), created=False)

    def resume_task(self, task_id: UUID, ctx: CommandContext) -> CommandResult:
        """Resume a paused task."""
        task = self.get_task(task_id)
        task.resume(ctx)
        return CommandResult(task.id, self._position(self.save(task)), created=False)

    def delete_task(self, task_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Delete a task and free its name for reuse."""
        task = self.get_task(task_id)
        task.delete(reason, ctx)
        index: TaskName = self.repository.get(TaskName.id_for(task.name, task.namespace))
        index.release(ctx)
        return CommandResult(task.id, self._position(self.save(task, index)), created=False)

    def get_task(self, task_id: UUID, version: int | None = None) -> Task:
        """Load a task from its events."""
        return self._get(task_id, Task, "task", version)

    def resolve_task_ref(self, ref: str, namespace: str = DEFAULT_NAMESPACE) -> UUID:
        """The task a number, UUID or name names, from the write side (never a view); a name
        is looked up in `namespace`, numbers and UUIDs are global.

        Raises:
            NotFoundError: no task has that number, UUID or name.
        """
        task_id: UUID | None
        if is_task_number(ref):
            task_id = self.task_numbers.id_for(int(ref)) if len(ref) <= MAX_NUMBER_DIGITS else None
        elif (parsed := parse_uuid(ref)) is not None:
            task_id = parsed if self._exists(parsed) else None
        else:
            task_id = self.task_id_for_name(ref, namespace)
        if task_id is None:
            raise NotFoundError("task", ref)
        return task_id

    def task_namespace(self, task_id: UUID) -> str:
        """The namespace a task belongs to, from its events."""
        return self.get_task(task_id).namespace

    def task_number(self, task_id: UUID) -> int | None:
        """A task's sequential number (1, 2, 3… in creation order), from the log."""
        return self.task_numbers.number_of(task_id)

    def task_id_for_name(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> UUID | None:
        """The live task holding a name in a namespace, from the index aggregate (consistent,
        not a view)."""
        try:
            index: TaskName = self.repository.get(TaskName.id_for(name, namespace))
        except AggregateNotFoundError:
            return None
        return index.task_id

    def _check_upstreams(
        self, task_id: UUID, name: str, upstreams: Sequence[str], namespace: str
    ) -> None:
        # Upstreams arrive as task UUIDs (the API resolves numbers and names first).
        for ref in upstreams:
            upstream_id = parse_uuid(ref)
            if upstream_id == task_id:
                raise InvalidFieldError("depends_on", f"task {name!r} cannot depend on itself")
            try:
                upstream = self.get_task(upstream_id) if upstream_id else None
            except NotFoundError:
                upstream = None
            if upstream is None or upstream.status == TaskStatus.DELETED:
                raise InvalidFieldError("depends_on", f"no task {ref!r}")
            if upstream.namespace != namespace:  # a batch runs within one namespace
                raise InvalidFieldError(
                    "depends_on",
                    f"task {upstream.name!r} is in namespace {upstream.namespace!r}, "
                    f"not {namespace!r}",
                )
        cycle = self._cycle_through(task_id, name, upstreams)
        if cycle:
            raise InvalidFieldError("depends_on", f"would make a cycle: {' -> '.join(cycle)}")

    def _cycle_through(self, task_id: UUID, name: str, upstreams: Sequence[str]) -> list[str]:
        """The names along a path from the task through its upstreams back to it, if any."""
        seen: set[UUID] = set()

        def walk(current: UUID, path: list[str]) -> list[str]:
            if current == task_id:
                return [*path, name]
            if current in seen:
                return []
            seen.add(current)
            task = self.get_task(current)  # each task is loaded once
            for ref in task.depends_on:
                if found := walk(UUID(ref), [*path, task.name]):
                    return found
            return []

        for ref in upstreams:
            if found := walk(UUID(ref), [name]):
                return found
        return []

    def _claim_name(
        self, name: str, task_id: UUID, ctx: CommandContext, namespace: str
    ) -> TaskName:
        try:
            index: TaskName = self.repository.get(TaskName.id_for(name, namespace))
        except AggregateNotFoundError:
            return TaskName.create(name, task_id, ctx, namespace)
        index.reserve(task_id, ctx)
        return index

    def _save_or_name_taken(self, name: str, *aggregates: Any) -> int | None:
        try:
            return self._position(self.save(*aggregates))
        except IntegrityError:
            # The name index was claimed concurrently between our read and our save.
            raise TaskNameTakenError(name) from None
