"""Every read-table projection, in a stable order: what runners, rebuilds and tools work on."""

from __future__ import annotations

from projections.api_keys import ApiKeysProjection
from projections.base import Projection
from projections.event_index import EventIndexProjection
from projections.namespaces import NamespacesProjection
from projections.run_stats import RunStatsProjection
from projections.runs import RunsProjection
from projections.subscriptions import SubscriptionsProjection
from projections.tasks import TasksProjection
from projections.workers import WorkersProjection


def all_projections() -> list[Projection]:
    """Every read-table projection, in a stable order."""
    return [
        TasksProjection(),
        RunsProjection(),
        WorkersProjection(),
        RunStatsProjection(),
        ApiKeysProjection(),
        EventIndexProjection(),
        SubscriptionsProjection(),
        NamespacesProjection(),
    ]
