"""The one place that reaches the process's container: each route dependency's provider.

Routes never see the container; they take the typed aliases of entrypoints/api/deps.py,
whose providers are these functions. A test replaces any of them with
`api.dependency_overrides[provider] = ...`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, cast

from fastapi import Depends, FastAPI, Request

from adapters.audit_chain import SqlChainStore
from adapters.key_directory import KeyDirectory
from adapters.metrics import Metrics
from adapters.postgres.read_route import ReadRoute
from adapters.postgres.replica_monitor import ReplicaMonitor
from application.archive.merged_log import ArchivedLog
from application.archive.service import Archiving
from application.audit_check import AuditCheck
from application.bus import Bus
from application.circuit_breaker import BreakerRegistry
from application.commands.app import SchedulerApp
from application.dispatch.liveness import LivenessStore
from application.ports import Clock, Wakeup
from application.quarantine import QuarantineLedger
from entrypoints.api.health_checks import HealthConfig
from entrypoints.api.namespace_rates import NamespaceRates
from entrypoints.api.views import Views
from entrypoints.bootstrap import Container, build_archiving
from entrypoints.live_config import LiveConfig
from entrypoints.rebuild_jobs import RebuildJobs
from entrypoints.settings import AlertingSettings
from entrypoints.web.session import SessionSealer
from projections.history import History
from projections.ports import Database
from projections.queries import ReadModel
from projections.runner import ProjectionRunner


def attach(
    api: FastAPI,
    container: Container,
    key_directory: KeyDirectory,
    live: LiveConfig | None = None,
) -> None:
    """Give the API its process's objects (create_api calls it once)."""
    api.state.container = container
    api.state.key_directory = key_directory
    container.extras.setdefault("rebuild_jobs", RebuildJobs(container))  # one per process
    container.extras.setdefault("namespace_rates", NamespaceRates(container.database))
    api.state.live_config = live or LiveConfig.fixed(container.settings)


def get_live_config(request: Request) -> LiveConfig:
    """The configuration in force, as the last reload left it."""
    return cast(LiveConfig, request.app.state.live_config)


def attach_sealer(web: FastAPI, sealer: SessionSealer) -> None:
    """Give the UI's sub-application the sealer of its session cookies (create_web calls it)."""
    web.state.web_sealer = sealer


def _container(request: Request) -> Container:
    return cast(Container, request.app.state.container)


def get_app(request: Request) -> SchedulerApp:
    """The command side (and the log) of this process."""
    return _container(request).app


def get_read_route(request: Request) -> Database:
    """Where this request reads: the replica's route (one per request, shared by every
    dependency of it), or the primary's read tables without `[database] read_url`."""
    container = _container(request)
    if container.replica is None:
        return container.database
    return container.replica.route(container.database)


ReadRouteDep = Annotated[Database, Depends(get_read_route)]


def get_read_database(route: ReadRouteDep) -> Database:
    """The read tables (on the replica when one serves this request)."""
    return route


def get_read_model(route: ReadRouteDep) -> ReadModel:
    """Queries over the read tables (on the replica when one serves this request)."""
    return ReadModel(route)


def get_history(request: Request) -> History:
    """Events, past states and diffs, read from the log."""
    return _container(request).history


def get_views(request: Request, route: ReadRouteDep) -> Views:
    """Read-your-writes: the views' positions, the bounded wait (on the replica too), the
    quarantine."""
    container = _container(request)
    return Views(
        container.waiter,
        tuple(container.projection_names),
        container.settings.api.read_wait_timeout_seconds,
        container.app.head_position,
        container.quarantine,
        container.app.saved_topics,
        route=route if isinstance(route, ReadRoute) else None,
    )


def get_replica(request: Request) -> ReplicaMonitor | None:
    """The read replica's monitor, None without `[database] read_url`."""
    replica = _container(request).replica
    return replica.monitor if replica is not None else None


def get_bus(request: Request) -> Bus:
    """The message bus (heartbeats of HTTP workers, the health ping)."""
    return _container(request).bus


def get_log_wakeup(request: Request) -> Wakeup:
    """The doorbell a save anywhere rings (in-process saves, and NOTIFY from other processes)."""
    return _container(request).log_wakeup


def get_liveness(request: Request) -> LivenessStore:
    """The workers' leases as this process sees them."""
    return _container(request).liveness


def get_clock(request: Request) -> Clock:
    """The process's clock: commands take their time from it."""
    return _container(request).clock


def get_quarantine(request: Request) -> QuarantineLedger:
    """Where the log's consumers hold the aggregates they could not handle."""
    return _container(request).quarantine


def get_breakers(request: Request) -> BreakerRegistry:
    """The process's circuit breakers."""
    return _container(request).breakers


def get_metrics(request: Request) -> Metrics:
    """The process's Prometheus metrics."""
    return _container(request).metrics


def get_runners(request: Request) -> list[ProjectionRunner]:
    """The projections this process runs (their in-process errors are not stored yet)."""
    return _container(request).runners


def get_namespace_rates(request: Request) -> NamespaceRates:
    """The trigger rates of the namespaces, as this process counts them."""
    return cast(NamespaceRates, _container(request).extras["namespace_rates"])


def get_key_directory(request: Request) -> KeyDirectory:
    """The API keys this process accepts."""
    return cast(KeyDirectory, request.app.state.key_directory)


def get_session_sealer(request: Request) -> SessionSealer:
    """The UI's session cookie sealer (set on the UI's sub-application only)."""
    return cast(SessionSealer, request.app.state.web_sealer)


def get_alerting(request: Request) -> AlertingSettings:
    """`[alerting]`: whether email can be sent, and the default delivery attempts."""
    return _container(request).settings.alerting


def get_health_config(request: Request) -> HealthConfig:
    """What /health needs from the settings."""
    settings = _container(request).settings
    return HealthConfig(
        queue_type=settings.message_queue.type,
        secrets=settings.connection_secrets,
        dispatcher_stale_after=timedelta(seconds=settings.dispatcher.stale_after_seconds),
    )


def get_audit_check(request: Request) -> AuditCheck:
    """The tamper-evidence chain of this deployment's log, on the primary."""
    container = _container(request)
    # Archived events left the live store; the files still hold them for the check.
    directory = Path(container.settings.retention.archive_dir)
    return AuditCheck(
        ArchivedLog(container.app.stored_log, directory), SqlChainStore(container.database)
    )


def get_archiving(request: Request) -> Archiving:
    """Retention and the archive files of this deployment's store."""
    container = _container(request)
    return build_archiving(container.settings, container.app, container.database)


def get_rebuild_jobs(request: Request) -> RebuildJobs:
    """The projection rebuilds this process started over HTTP."""
    return cast(RebuildJobs, _container(request).extras["rebuild_jobs"])
