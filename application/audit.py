"""Tamper evidence: a hash chain over the stored event log, extended and verified here."""

from __future__ import annotations

import hashlib
import logging
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import Notification

from application.ports import Clock, SystemClock, Wakeup

logger = logging.getLogger(__name__)

GENESIS = bytes(32)  # the "previous hash" of the first chained position
BATCH_SIZE = 5_000  # events per read and per chain transaction (reads plateau near 5k rows)
_NO_LIMIT = 2**62  # an upper position bound that every real position is below


def event_digest(notification: Notification) -> bytes:
    """sha256 of one stored event's bytes: originator id, version, topic and state."""
    # Every variable-length field is length-prefixed, so no two events encode alike.
    originator = notification.originator_id
    key = originator.bytes if isinstance(originator, UUID) else str(originator).encode()
    topic = notification.topic.encode()
    state = notification.state
    body = state.encode() if isinstance(state, str) else bytes(state)
    digest = hashlib.sha256()
    digest.update(struct.pack(">I", len(key)) + key)
    digest.update(struct.pack(">q", notification.originator_version))
    digest.update(struct.pack(">I", len(topic)) + topic)
    digest.update(struct.pack(">Q", len(body)) + body)
    return digest.digest()


def link_hash(previous: bytes, position: int, digest: bytes) -> bytes:
    """h(n) = sha256(h(n-1) || position || digest of the event at n)."""
    return hashlib.sha256(previous + struct.pack(">Q", position) + digest).digest()


@dataclass(frozen=True)
class ChainLink:
    """One chained log position."""

    position: int
    previous_position: int  # 0 for the first; names a position deleted with its link
    event_digest: bytes
    hash: bytes


class StoredEventLog(Protocol):
    """The event store's raw rows by position (eventsourcing's ApplicationRecorder)."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]: ...

    def max_notification_id(self) -> int | None: ...


class ChainStore(Protocol):
    """Where the chain is kept: append-only rows, one per chained position."""

    def head(self) -> ChainLink | None: ...

    def last_before(self, position: int) -> ChainLink | None: ...

    def links(self, after: int, until: int, limit: int) -> list[ChainLink]: ...

    def append(self, expected_head: int, links: Sequence[ChainLink], clock: Clock) -> bool: ...

    def position_of_digest(self, digest: bytes) -> int | None: ...


def read_events(
    log: StoredEventLog, after: int, until: int | None, batch_size: int
) -> Iterator[Notification]:
    """Every stored event after a position (up to `until`), read in batches."""
    while True:
        batch = log.select_notifications(
            start=after, limit=batch_size, stop=until, inclusive_of_start=False
        )
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1].id


def read_links(
    store: ChainStore, after: int, until: int | None, batch_size: int
) -> Iterator[ChainLink]:
    """Every chain link after a position (up to `until`), read in batches."""
    while True:
        batch = store.links(after, _NO_LIMIT if until is None else until, batch_size)
        yield from batch
        if len(batch) < batch_size:
            return
        after = batch[-1].position


class AuditChainFollower:
    """Extends the chain over new events: one transaction per batch, from the chain's head."""

    def __init__(
        self,
        log: StoredEventLog,
        store: ChainStore,
        batch_size: int = BATCH_SIZE,
        clock: Clock | None = None,
    ) -> None:
        self._log = log
        self._store = store
        self._batch_size = batch_size
        self._clock = clock or SystemClock()

    def extend_once(self, until: int | None = None) -> int:
        """Chain one batch of unchained events; returns how many (0 if another writer won)."""
        head = self._store.head()
        position, previous = (head.position, head.hash) if head else (0, GENESIS)
        events = self._log.select_notifications(
            start=position, limit=self._batch_size, stop=until, inclusive_of_start=False
        )
        links: list[ChainLink] = []
        for event in events:
            digest = event_digest(event)
            previous = link_hash(previous, event.id, digest)
            links.append(ChainLink(event.id, position, digest, previous))
            position = event.id
        if links and not self._store.append(head.position if head else 0, links, self._clock):
            return 0
        return len(links)

    def catch_up(self, until: int | None = None) -> int:
        """Chain every event not chained yet (up to `until`); returns how many."""
        total = 0
        while (count := self.extend_once(until)) > 0:
            total += count
            if count < self._batch_size:
                break
        return total

    def run_forever(self, stop: threading.Event, wakeup: Wakeup, poll_interval: float) -> None:
        """Follow the log until stopped: woken by saves or notifications, and by a timer."""
        while not stop.is_set():
            generation = wakeup.generation()
            try:
                self.catch_up()
            except Exception as error:  # keep following: a database blip must not stop it
                logger.warning("audit chain batch failed: %s", error, extra={"action": "audit"})
                stop.wait(1.0)
                continue
            wakeup.wait(generation, poll_interval)


@dataclass(frozen=True)
class ChainBreak:
    """The first position where the stored log no longer matches its chain."""

    position: int
    reason: str


@dataclass
class Verification:
    """What a walk over the chain found."""

    verified: int = 0
    last_position: int = 0
    last_hash: bytes = GENESIS
    unchained: int = 0  # events after the chain's head, not chained yet
    broken: ChainBreak | None = None
    hashes_at: dict[int, bytes] = field(default_factory=dict)  # recomputed, at checkpoints


def verify_chain(
    log: StoredEventLog,
    store: ChainStore,
    start: ChainLink | None = None,
    until: int | None = None,
    batch_size: int = BATCH_SIZE,
    checkpoints: Sequence[int] = (),
) -> Verification:
    """Recompute the chain after `start` (trusted; None = from the first event) and compare."""
    result = Verification(
        last_position=start.position if start else 0, last_hash=start.hash if start else GENESIS
    )
    wanted = set(checkpoints)
    if until is None:
        # Fix the end now: an event and its link saved during the walk must not look like
        # a link whose event is missing. A link past the log's end means a deleted tail.
        head = store.head()
        until = max(log.max_notification_id() or 0, head.position if head else 0)
    events = read_events(log, result.last_position, until, batch_size)
    links = read_links(store, result.last_position, until, batch_size)
    event, link = next(events, None), next(links, None)
    while event is not None or link is not None:
        if link is None:  # past the chain's head: the rest is simply not chained yet
            result.unchained = 1 + sum(1 for _ in events)
            return result
        if event is None or link.position < event.id:
            return _broken(result, link.position, "the chained event is missing (deleted)")
        if event.id < link.position:
            return _broken(result, event.id, "this event was never chained (inserted later)")
        if (reason := _link_problem(result, link)) is not None:
            return _broken(result, *reason)
        digest = event_digest(event)
        recomputed = link_hash(result.last_hash, event.id, digest)
        if recomputed != link.hash:
            return _broken(result, event.id, _mismatch(store, result, link, digest))
        if event.id in wanted:
            result.hashes_at[event.id] = recomputed
        result.verified += 1
        result.last_position, result.last_hash = event.id, recomputed
        event, link = next(events, None), next(links, None)
    return result


def _link_problem(result: Verification, link: ChainLink) -> tuple[int, str] | None:
    # Each link names its predecessor, so a position deleted together with its link, or one
    # inserted with a forged link, is named instead of surfacing as a later hash mismatch.
    if link.previous_position > result.last_position:
        return link.previous_position, "the event and its chain link are missing (deleted)"
    if link.previous_position < result.last_position:
        return result.last_position, (
            f"this position was not in the chain when position {link.position} was chained "
            "(inserted with a forged link)"
        )
    return None


def _mismatch(store: ChainStore, result: Verification, link: ChainLink, digest: bytes) -> str:
    if digest == link.event_digest:
        return (
            f"the event is unchanged but its link from position {result.last_position} "
            "is not: the chain was rewritten at or before that position, or this link was edited"
        )
    moved_from = store.position_of_digest(digest)
    if moved_from is not None and moved_from != link.position:
        return f"reordered: this is the event chained at position {moved_from}"
    return "the stored event differs from the one chained (edited, or swapped with another)"


def _broken(result: Verification, position: int, reason: str) -> Verification:
    result.broken = ChainBreak(position, reason)
    return result


def check_anchors(result: Verification, anchors: Mapping[int, bytes]) -> ChainBreak | None:
    """The first exported head (position -> hash) that the recomputed chain no longer has."""
    for position in sorted(anchors):
        recomputed = result.hashes_at.get(position)
        if recomputed is None and position > result.last_position:
            return ChainBreak(
                position,
                f"the verified chain ends at position {result.last_position}, before this "
                "anchor: its tail was deleted with its links (or --to stops earlier)",
            )
        if recomputed is None:
            return ChainBreak(
                position, "the anchored position is not in the chain (or is before --from)"
            )
        if recomputed != anchors[position]:
            return ChainBreak(
                position, "the chain was rewritten: its hash differs from the exported anchor"
            )
    return None
