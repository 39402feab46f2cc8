"""Where quarantine entries are kept: the port every process shares, and a dict for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from application.quarantine.entries import HELD, RELEASED, RESOLVED, QuarantineEntry


class QuarantineLedger(Protocol):
    """Where quarantine entries are kept, shared by every process of a deployment."""

    def record(
        self,
        consumer: str,
        aggregate_id: str,
        aggregate_type: str,
        position: int,
        topic: str,
        error: str,
        at: datetime,
    ) -> None:
        """Open (or refresh) an entry: the aggregate is held from `position`."""
        ...

    def note_held(
        self, consumer: str, aggregate_id: str, last_position: int, held_count: int
    ) -> None:
        """Say how many events are held so far and the newest one."""
        ...

    def entries(
        self,
        consumer: str | None = None,
        statuses: Sequence[str] | None = (HELD,),
        aggregate_ids: Sequence[str] | None = None,
    ) -> list[QuarantineEntry]:
        """Entries, newest failure first; by default only those still held (None: all)."""
        ...

    def resolve(self, consumer: str, aggregate_id: str, at: datetime, note: str) -> None:
        """Close an entry: everything held was applied."""
        ...

    def release(self, consumer: str, aggregate_id: str, through: int, at: datetime) -> None:
        """Close an entry as released: events up to `through` are given up."""
        ...

    def request(self, aggregate_id: str, action: str, through: int, at: datetime) -> int:
        """Ask every consumer holding the aggregate to retry or release; returns entries."""
        ...


class InMemoryQuarantineLedger:
    """A ledger in a dict, for tests and tools with no database."""

    def __init__(self, entries: Sequence[QuarantineEntry] = ()) -> None:
        self._entries: dict[tuple[str, str], QuarantineEntry] = {
            (e.consumer, e.aggregate_id): e for e in entries
        }
        self._lock = threading.Lock()

    def add(self, entries: Sequence[QuarantineEntry]) -> None:
        """Take entries as they are (what a rebuild's child process found)."""
        with self._lock:
            for entry in entries:
                self._entries[(entry.consumer, entry.aggregate_id)] = entry

    def record(
        self,
        consumer: str,
        aggregate_id: str,
        aggregate_type: str,
        position: int,
        topic: str,
        error: str,
        at: datetime,
    ) -> None:
        """Open or refresh an entry."""
        with self._lock:
            key = (consumer, aggregate_id)
            old = self._entries.get(key)
            if old is not None and old.status == HELD:
                self._entries[key] = replace(
                    old,
                    position=min(old.position, position),
                    error=error,
                    last_failed_at=at,
                    failures=old.failures + 1,
                    request=None,
                )
                return
            self._entries[key] = QuarantineEntry(
                consumer=consumer,
                aggregate_id=aggregate_id,
                aggregate_type=aggregate_type,
                position=position,
                topic=topic,
                error=error,
                first_failed_at=at,
                last_failed_at=at,
                last_position=position,
                released_through=old.released_through if old is not None else None,
            )

    def note_held(
        self, consumer: str, aggregate_id: str, last_position: int, held_count: int
    ) -> None:
        """Update the held counters."""
        with self._lock:
            old = self._entries.get((consumer, aggregate_id))
            if old is not None and old.status == HELD:
                self._entries[(consumer, aggregate_id)] = replace(
                    old,
                    last_position=max(old.last_position or 0, last_position),
                    held_count=max(old.held_count, held_count),
                )

    def entries(
        self,
        consumer: str | None = None,
        statuses: Sequence[str] | None = (HELD,),
        aggregate_ids: Sequence[str] | None = None,
    ) -> list[QuarantineEntry]:
        """Entries, newest failure first."""
        with self._lock:
            chosen = [
                e
                for e in self._entries.values()
                if (consumer is None or e.consumer == consumer)
                and (statuses is None or e.status in statuses)
                and (aggregate_ids is None or e.aggregate_id in aggregate_ids)
            ]
        return sorted(chosen, key=lambda e: e.last_failed_at, reverse=True)

    def resolve(self, consumer: str, aggregate_id: str, at: datetime, note: str) -> None:
        """Close as resolved."""
        with self._lock:
            old = self._entries.get((consumer, aggregate_id))
            if old is not None:
                self._entries[(consumer, aggregate_id)] = replace(
                    old, status=RESOLVED, request=None, resolved_at=at, note=note
                )

    def release(self, consumer: str, aggregate_id: str, through: int, at: datetime) -> None:
        """Close as released."""
        with self._lock:
            old = self._entries.get((consumer, aggregate_id))
            if old is not None:
                self._entries[(consumer, aggregate_id)] = replace(
                    old,
                    status=RELEASED,
                    request=None,
                    released_through=max(through, old.released_through or 0),
                    resolved_at=at,
                    note=f"released through position {through}",
                )

    def request(self, aggregate_id: str, action: str, through: int, at: datetime) -> int:
        """Flag every held entry of the aggregate."""
        with self._lock:
            keys = [
                k for k, e in self._entries.items() if k[1] == aggregate_id and e.status == HELD
            ]
            for key in keys:
                self._entries[key] = replace(
                    self._entries[key], request=action, requested_through=through
                )
        return len(keys)
