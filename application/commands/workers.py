"""Worker commands: join, drain, leave, as an operator or the worker itself says."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from application.commands.base import CommandsBase
from application.results import CommandResult
from domain.context import CommandContext
from domain.namespace import DEFAULT_NAMESPACE
from domain.statuses import WORKER_LEFT
from domain.worker import Worker, WorkerProfile


class WorkerCommands(CommandsBase):
    """A worker's membership in the pool changes only here."""

    def register_worker(
        self,
        *,
        name: str,
        hostname: str,
        executors: list[str],
        queues: list[str],
        labels: dict[str, str],
        max_concurrent_tasks: int,
        ctx: CommandContext,
        worker_id: UUID | None = None,
        namespaces: Sequence[str] = (DEFAULT_NAMESPACE,),
    ) -> CommandResult:
        """Register a worker process in the pool, its profile given field by field."""
        profile = WorkerProfile(
            name, hostname, executors, queues, labels, max_concurrent_tasks, namespaces
        )
        return self.register_worker_profile(profile, ctx, worker_id)

    def register_worker_profile(
        self, profile: WorkerProfile, ctx: CommandContext, worker_id: UUID | None = None
    ) -> CommandResult:
        """Register a worker process in the pool."""
        worker = Worker.register(worker_id or self._new_id(), profile, ctx)
        return CommandResult(worker.id, self._position(self.save(worker)))

    def deregister_worker(self, worker_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Remove a worker from the pool (nothing is recorded if it already left)."""
        worker: Worker = self._get(worker_id, Worker, "worker", None)
        worker.deregister(reason, ctx)
        return CommandResult(worker.id, self._position(self.save(worker)), created=False)

    def drain_worker(self, worker_id: UUID, reason: str, ctx: CommandContext) -> CommandResult:
        """Ask a worker to take no new work, finish what it runs, then leave."""
        worker: Worker = self._get(worker_id, Worker, "worker", None)
        worker.drain(reason, ctx)
        return CommandResult(worker.id, self._position(self.save(worker)), created=False)

    def record_worker_leaving(self, worker_id: UUID, kind: str, ctx: CommandContext) -> None:
        """Record a worker's own report that it is draining or has left; repeats are no-ops."""
        worker: Worker = self._get(worker_id, Worker, "worker", None)
        if kind == "draining":
            changed = worker.status not in WORKER_LEFT and worker.drain(
                "worker is shutting down", ctx
            )
        else:
            changed = worker.deregister("worker stopped", ctx)
        if changed:
            self.save(worker)

    def register_worker_once(
        self, worker_id: UUID, profile: WorkerProfile | Mapping[str, Any], ctx: CommandContext
    ) -> bool:
        """Record a worker's registration from the bus; a repeat is a no-op. True if new."""
        if self._exists(worker_id):
            return False
        if not isinstance(profile, WorkerProfile):
            profile = WorkerProfile.from_dict(profile, worker_id)
        try:
            self.register_worker_profile(profile, ctx, worker_id)
        except IntegrityError:
            return False  # another dispatcher recorded it first
        return True

    def get_worker(self, worker_id: UUID, version: int | None = None) -> Worker:
        """Load a worker from its events."""
        return self._get(worker_id, Worker, "worker", version)
