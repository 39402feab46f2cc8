"""The typed dependencies routes take: one alias per thing a route needs.

Each alias names its provider in entrypoints/api/providers.py, the only module that reaches
the process's container; no route sees the container itself.
"""

from __future__ import annotations

import uuid
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request

from adapters.key_directory import KeyDirectory
from adapters.metrics import Metrics
from adapters.postgres.replica_monitor import ReplicaMonitor
from adapters.tracing import current_traceparent
from application.bus import Bus
from application.circuit_breaker import BreakerRegistry
from application.commands.app import SchedulerApp
from application.dispatch.liveness import LivenessStore
from application.ports import Clock, Wakeup
from application.quarantine import QuarantineLedger
from domain.context import CommandContext
from domain.errors import NotFoundError
from domain.ids import parse_uuid
from entrypoints.api import providers
from entrypoints.api.health_checks import HealthConfig
from entrypoints.api.namespace_rates import NamespaceRates
from entrypoints.api.namespace_scope import ScopeDep
from entrypoints.api.permissions import PrincipalDep
from entrypoints.api.views import Views
from entrypoints.live_config import LiveConfig
from entrypoints.rebuild_jobs import RebuildJobs
from entrypoints.settings import AlertingSettings
from entrypoints.web.session import SessionSealer
from projections.history import History
from projections.ports import Database
from projections.queries import ReadModel
from projections.references import TaskReferences
from projections.runner import ProjectionRunner

AppDep = Annotated[SchedulerApp, Depends(providers.get_app)]
ReadModelDep = Annotated[ReadModel, Depends(providers.get_read_model)]
ReadDatabaseDep = Annotated[Database, Depends(providers.get_read_database)]
HistoryDep = Annotated[History, Depends(providers.get_history)]
ViewsDep = Annotated[Views, Depends(providers.get_views)]
BusDep = Annotated[Bus, Depends(providers.get_bus)]
LogWakeupDep = Annotated[Wakeup, Depends(providers.get_log_wakeup)]
LivenessDep = Annotated[LivenessStore, Depends(providers.get_liveness)]
ClockDep = Annotated[Clock, Depends(providers.get_clock)]
QuarantineDep = Annotated[QuarantineLedger, Depends(providers.get_quarantine)]
BreakersDep = Annotated[BreakerRegistry, Depends(providers.get_breakers)]
MetricsDep = Annotated[Metrics, Depends(providers.get_metrics)]
RunnersDep = Annotated[list[ProjectionRunner], Depends(providers.get_runners)]
KeyDirectoryDep = Annotated[KeyDirectory, Depends(providers.get_key_directory)]
AlertingDep = Annotated[AlertingSettings, Depends(providers.get_alerting)]
HealthConfigDep = Annotated[HealthConfig, Depends(providers.get_health_config)]
ReplicaDep = Annotated[ReplicaMonitor | None, Depends(providers.get_replica)]
LiveConfigDep = Annotated[LiveConfig, Depends(providers.get_live_config)]
SessionSealerDep = Annotated[SessionSealer, Depends(providers.get_session_sealer)]
RebuildJobsDep = Annotated[RebuildJobs, Depends(providers.get_rebuild_jobs)]
NamespaceRatesDep = Annotated[NamespaceRates, Depends(providers.get_namespace_rates)]


def task_references(
    read_model: ReadModelDep, app: AppDep, history: HistoryDep, scope: ScopeDep
) -> TaskReferences:
    """Task references: the log for commands, the view (then the log) for queries; a name is
    looked up in the request's namespace, and a task the caller may not see is not found."""
    sees = scope.sees if scope.narrowed else None
    return TaskReferences(read_model, app, history, scope.name_namespace, sees)


ReferencesDep = Annotated[TaskReferences, Depends(task_references)]


def command_context(
    request: Request,
    clock: ClockDep,
    principal: PrincipalDep,
    x_actor: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Recorded as the unverified `on_behalf_of` of the events, never as"
            " their actor (the actor is the authenticated caller).",
        ),
    ] = None,
    x_correlation_id: Annotated[
        str | None,
        Header(
            max_length=100,
            description="A UUID recorded as the correlation id of the events and carried by"
            " the request's log lines; otherwise a new one (returned as X-Correlation-Id).",
        ),
    ] = None,
) -> CommandContext:
    """Who is acting (the authenticated principal), the request's correlation id and trace."""
    # The middleware chose it (entrypoints/api/request_context.py): the log lines say the same.
    chosen = getattr(request.state, "correlation_id", None)
    correlation = parse_uuid(x_correlation_id) if x_correlation_id else None
    return CommandContext(
        actor=principal.actor,
        now=clock.now(),
        correlation_id=chosen or correlation or uuid.uuid4(),
        on_behalf_of=x_actor or None,
        traceparent=current_traceparent(),  # TraceMiddleware's (entrypoints/api/tracing.py)
    )


ContextDep = Annotated[CommandContext, Depends(command_context)]


def parse_id(kind: str, text: str) -> UUID:
    """A run or worker id from the path; unknown shapes are simply not found."""
    parsed = parse_uuid(text)
    if parsed is None:
        raise NotFoundError(kind, text)
    return parsed


def parse_run_id(run_id: str) -> UUID:
    """A run id from the path."""
    return parse_id("run", run_id)
