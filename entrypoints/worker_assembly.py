"""A worker agent built from `[worker]`: its executors, task-group ledger and metrics.

Nothing here touches the database, so a worker process never imports its drivers.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge

from adapters.breaker_metrics import BreakerCollector
from application.bus import Bus
from application.circuit_breaker import BreakerRegistry
from application.tracing import NO_TRACER, Tracer
from domain.worker import WorkerProfile
from entrypoints.settings import Settings

if TYPE_CHECKING:
    from adapters.executors.task_groups import TaskGroupLedger
    from adapters.executors.task_user import TaskUser
    from application.worker_agent import WorkerAgent


def default_worker_name() -> str:
    """A readable default worker name: the host name."""
    return f"{socket.gethostname()}-local"


def make_worker(
    settings: Settings,
    bus: Bus,
    ledger: TaskGroupLedger | None = None,
    user: TaskUser | None = None,
    tracer: Tracer = NO_TRACER,
) -> WorkerAgent:
    """A worker configured from `[worker]`; `ledger` records its task process groups.

    It advertises only the executors it may run, and has no others (allowed_executors).
    Tasks run as `user` (default: what `[worker] run_as_user` resolves to).

    Raises:
        TaskUserError: run_as_user cannot be honoured here.
    """
    # Imported when built: only a worker's process pays for the executors, not the CLI.
    from adapters.delivery_executor import DeliveryExecutor
    from adapters.executors import default_executors
    from adapters.executors.task_user import resolve_task_user
    from adapters.log_redaction import remember_secrets
    from application.worker_agent import WorkerAgent

    worker = settings.worker
    profile = WorkerProfile(
        name=worker.name or default_worker_name(),
        hostname=socket.gethostname(),
        executors=list(worker.offered_executors),
        queues=list(worker.queues),
        labels=dict(worker.labels),
        max_concurrent_tasks=worker.max_concurrent_tasks,
        namespaces=list(worker.namespaces),
    )
    return WorkerAgent(
        profile,
        bus,
        DeliveryExecutor(
            default_executors(
                output_tail_bytes=worker.output_tail_bytes,
                ledger=ledger,
                user=user if user is not None else resolve_task_user(worker.run_as_user),
                allowed=worker.offered_executors,
                callable_modules=worker.callable_modules,
                max_concurrent_tasks=worker.max_concurrent_tasks,
            )
        ),
        heartbeat_interval=worker.heartbeat_interval_seconds,
        remember_secrets=remember_secrets,
        tracer=tracer,
    )


def open_task_groups() -> TaskGroupLedger:
    """Kill what dead workers left running, then record and guard this worker's tasks."""
    from adapters.executors.task_groups import TaskGroupLedger  # a worker's only

    ledger = TaskGroupLedger()
    ledger.open()
    return ledger


def worker_metrics(agent: WorkerAgent, breakers: BreakerRegistry) -> CollectorRegistry:
    """A worker's own metrics: attempts in flight, capacity, circuit breakers."""
    registry = CollectorRegistry()
    registry.register(BreakerCollector(breakers))
    in_flight = Gauge(
        "scheduler_worker_running", "Attempts this worker is executing.", registry=registry
    )
    in_flight.set_function(lambda: agent.running)
    capacity = Gauge(
        "scheduler_worker_capacity", "This worker's max_concurrent_tasks.", registry=registry
    )
    capacity.set(agent.profile.max_concurrent_tasks)
    orphaned = Gauge(
        "scheduler_worker_orphaned_threads",
        "Threads still running a callable that timed out or was cancelled.",
        registry=registry,
    )
    orphaned.set_function(lambda: agent.orphaned_threads)
    return registry
