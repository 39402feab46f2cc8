"""Reading one worker's Redis stream: deliveries and controls, at most as many as asked for."""

from __future__ import annotations

import threading
from uuid import UUID

import redis

from adapters.redis_dead_letters import DeadLetters
from adapters.redis_entries import block_ms, unpack
from application.messages import Control, Delivery, inbox_message_from_dict

Entry = tuple[bytes, dict[bytes, bytes]]


class InboxReader:
    """Keeps, per worker, where its stream was read to: an entry id, and how many messages of
    that entry were taken when a read stopped inside a batch entry (0: all of them)."""

    def __init__(self, client: redis.Redis, dead_letters: DeadLetters) -> None:
        self._client = client
        self._dead_letters = dead_letters
        self._cursors: dict[UUID, tuple[str, int]] = {}
        self._entry_sizes: dict[str, int] = {}  # messages in the last entry read, per stream
        self._lock = threading.Lock()

    def receive(
        self, key: str, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery | Control]:
        """At most `max_count` messages after the last one taken (from the start at first)."""
        with self._lock:
            cursor, offset = self._cursors.get(worker_id, ("0-0", 0))
        messages: list[Delivery | Control] = []
        if offset:  # the rest of a batch entry a read stopped inside
            rows = self._client.xrange(key, cursor, cursor)
            offset = self._take(key, rows[0], offset, max_count, messages) if rows else 0
        if not offset and len(messages) < max_count:
            wanted = max_count - len(messages)
            answer = self._client.xread(
                {key: cursor},
                count=max(1, -(-wanted // self._entry_sizes.get(key, 1))),
                block=block_ms(timeout) if not messages else None,
            )
            for _stream, entries in answer or []:
                for entry in entries:
                    if len(messages) >= max_count:
                        break  # the cursor stays before this entry
                    cursor = entry[0].decode()
                    offset = self._take(key, entry, 0, max_count, messages)
                    if offset:
                        break
        if messages or offset:
            with self._lock:
                self._cursors[worker_id] = (cursor, offset)
        elif cursor != "0-0" and not self._client.exists(key):
            # The stream vanished (FLUSHALL or a restart): start again from the beginning.
            with self._lock:
                self._cursors[worker_id] = ("0-0", 0)
        return messages

    def _take(
        self, key: str, entry: Entry, start: int, max_count: int, into: list[Delivery | Control]
    ) -> int:
        """Take an entry's messages from `start` while there is room; where it stopped (0: at
        its end). An unreadable message is buried: it must not stop the inbox."""
        entry_id, fields = entry
        unpacked = unpack(fields, inbox_message_from_dict, (Delivery, Control))
        self._entry_sizes[key] = max(unpacked.count, 1)
        good, bad = dict(unpacked.messages), dict(unpacked.failures)
        for index in range(start, unpacked.count):
            if len(into) >= max_count:
                return index
            if index in bad:
                self._dead_letters.bury(key, entry_id, fields, bad[index], index)
            else:
                into.append(good[index])
        return 0
