"""Worker membership through the application: registration is an event, heartbeats a lease."""

from __future__ import annotations

import uuid
from uuid import UUID

from application.liveness import LivenessStore
from application.ports import Clock
from application.scheduler_app import SchedulerApp
from application.worker_agent import WorkerProfile
from domain.context import CommandContext


class LocalMembership:
    """Membership for a worker in the same process as the event store (embedded mode)."""

    def __init__(self, app: SchedulerApp, liveness: LivenessStore, clock: Clock) -> None:
        self._app = app
        self._liveness = liveness
        self._clock = clock

    def register(self, profile: WorkerProfile) -> UUID:
        """Record Worker.Registered."""
        ctx = self._context(f"worker:{profile.name}")
        return self._app.register_worker(
            name=profile.name,
            hostname=profile.hostname,
            executors=profile.executors,
            queues=profile.queues,
            labels=profile.labels,
            max_concurrent_tasks=profile.max_concurrent_tasks,
            ctx=ctx,
        ).aggregate_id

    def heartbeat(self, worker_id: UUID, running: int) -> None:
        """Renew the lease; writes no event."""
        self._liveness.beat(worker_id, self._clock.now(), running)

    def deregister(self, worker_id: UUID, reason: str) -> None:
        """Record Worker.Deregistered."""
        self._app.deregister_worker(worker_id, reason, self._context(f"worker:{worker_id}"))

    def _context(self, actor: str) -> CommandContext:
        return CommandContext(actor=actor, now=self._clock.now(), correlation_id=uuid.uuid4())
