"""Loads served from memory: a log follower (the dispatcher) lends the aggregates it keeps.

While a follower is `serving` in a thread, that thread's latest-version loads ask it first and
tell it what they had to read from the store. Other threads, and loads of a past version, go
to the store as always. It is how the dispatcher decides without reading the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Repository


class AggregateSource(Protocol):
    """Aggregates kept current from the log."""

    def get(self, aggregate_id: UUID) -> Any | None:
        """The aggregate at the log's latest version, or None to load it from the store."""
        ...

    def loaded(self, aggregate: Any) -> None:
        """An aggregate the store had to be asked for."""
        ...


_SERVING: ContextVar[AggregateSource | None] = ContextVar("serving_source", default=None)


@contextmanager
def serving(source: AggregateSource) -> Iterator[None]:
    """Within it, this thread's latest-version loads ask `source` first."""
    token = _SERVING.set(source)
    try:
        yield
    finally:
        _SERVING.reset(token)


def serving_source() -> AggregateSource | None:
    """The source serving this thread's loads now, if any."""
    return _SERVING.get()


class FollowedRepository(Repository[UUID]):
    """The library's repository, asking the serving source (if any) before the store."""

    @classmethod
    def wrapping(cls, inner: Repository[UUID]) -> FollowedRepository:
        """The same repository (stores, cache, settings) with loads that can be served."""
        repository = cls(
            inner.event_store,
            snapshot_store=inner.snapshot_store,
            fastforward=inner.fastforward,
            fastforward_skipping=inner.fastforward_skipping,
            deepcopy_from_cache=inner.deepcopy_from_cache,
        )
        repository.cache = inner.cache
        return repository

    def get(self, aggregate_id: UUID, *, version: int | None = None, **kwargs: Any) -> Any:
        """From the serving source when it has the latest version, else from the store."""
        source = _SERVING.get() if version is None else None
        if source is not None and (aggregate := source.get(aggregate_id)) is not None:
            return aggregate
        aggregate = super().get(aggregate_id, version=version, **kwargs)
        if source is not None:
            source.loaded(aggregate)
        return aggregate
