"""Namespace limits in the assignment plan: at most max_concurrent_runs runs of a namespace out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from application.dispatch.entries import OpenRun
from domain.namespace import namespace_of

NAMESPACE_WAIT = "namespace_limit"  # the wait code of a run held by its namespace's limit


class NamespaceCounts:
    """How many runs of each namespace are out, counting this round's reservations."""

    def __init__(self, out: Iterable[OpenRun], limits: Mapping[str, int]) -> None:
        self._limits = limits
        # Only namespaces with a limit are counted: without one, nothing waits.
        self._out: Counter[str] = Counter(
            namespace for run in out if (namespace := namespace_of(run.task)) in limits
        )

    def blocked(self, run: OpenRun) -> str | None:
        """Why the run must wait for its namespace, or None when it may go out."""
        namespace = namespace_of(run.task)
        limit = self._limits.get(namespace)
        if limit is None or self._out[namespace] < limit:
            return None
        return (
            f"namespace_limit: {self._out[namespace]} runs of namespace {namespace!r} are out "
            f"(max_concurrent_runs {limit})"
        )

    def took(self, run: OpenRun) -> None:
        """A run of the namespace goes out this round."""
        namespace = namespace_of(run.task)
        if namespace in self._limits:
            self._out[namespace] += 1
