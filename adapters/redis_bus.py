"""Redis Streams bus: consumer groups for reports, a stream per worker inbox, heartbeats."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
import redis

from adapters.redis_dead_letters import DeadLetters
from adapters.redis_entries import PartialAcks, block_ms, entry_fields, token, unpack
from adapters.redis_heartbeats import RedisHeartbeatListener
from adapters.redis_inbox import InboxReader
from adapters.tls import TlsFiles
from application.bus import Received
from application.messages import (
    BusMessage,
    Control,
    Delivery,
    Heartbeat,
    Report,
)

logger = logging.getLogger(__name__)

GROUP = "dispatchers"
REPORTS_MAXLEN = 100_000  # approximate trim; workers resend unconfirmed final reports anyway
INBOX_MAXLEN = 10_000
HEARTBEATS_MAXLEN = 10_000
RECLAIM_IDLE_MS = 30_000  # a report pending this long belongs to a dead dispatcher: take it
RECLAIM_EVERY_SECONDS = 5.0
LOGS_MAXLEN = 10_000  # shipped log lines waiting for a dispatcher; the oldest go first


class RedisStreamsBus:
    """All streams live under `prefix`, so several deployments or test runs can share Redis."""

    def __init__(
        self,
        url: str,
        prefix: str = "scheduler",
        socket_timeout: float = 5.0,
        tls: TlsFiles | None = None,
        batch_entries: bool = True,
    ) -> None:
        # rediss:// only: redis-py's plain connections take no TLS options.
        secure = url.lower().startswith("rediss://")
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            **((tls or TlsFiles()).redis_options() if secure else {}),
        )
        self.prefix = prefix
        self._reports = f"{prefix}:reports"
        self._heartbeats = f"{prefix}:heartbeats"
        self._dead = f"{prefix}:dead"
        self._logs = f"{prefix}:logs"
        self._group_ready = False
        self._last_reclaim: dict[str, float] = {}
        # Where each inbox was read to: an entry id, and how many of its messages were taken
        # when a read stopped inside a batch entry (0: all of them).
        self._lock = threading.Lock()
        # Several messages per entry (docs/architecture.md#bus); off while a release that reads
        # only single entries shares the bus.
        self._batched = batch_entries
        self._entry_sizes: dict[str, int] = {}  # messages in the last entry read, per stream
        self._acks = PartialAcks()
        self._dead_letters = DeadLetters(self._client, self._dead)
        self._inbox = InboxReader(self._client, self._dead_letters)

    def inbox_key(self, worker_id: UUID) -> str:
        """The stream of one worker's deliveries and controls."""
        return f"{self.prefix}:worker:{worker_id}"

    def publish_delivery(self, delivery: Delivery) -> None:
        """XADD the delivery to its worker's stream."""
        self._add(self.inbox_key(delivery.worker_id), delivery.to_dict(), INBOX_MAXLEN)

    def publish_control(self, control: Control) -> None:
        """XADD the control message to its worker's stream."""
        self._add(self.inbox_key(control.worker_id), control.to_dict(), INBOX_MAXLEN)

    def publish_inbox_messages(self, messages: Sequence[Delivery | Control]) -> None:
        """XADD the messages to their workers' streams (in order per worker), one pipeline."""
        by_key: dict[str, list[BusMessage]] = {}
        for message in messages:
            by_key.setdefault(self.inbox_key(message.worker_id), []).append(message)
        self._add_many(
            [(key, f) for key, ms in by_key.items() for f in entry_fields(ms, self._batched)],
            INBOX_MAXLEN,
        )

    def receive_inbox(
        self, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery | Control]:
        """At most `max_count` messages after the last one taken (from the start at first)."""
        return self._inbox.receive(self.inbox_key(worker_id), worker_id, max_count, timeout)

    def drop_inbox(self, worker_id: UUID) -> None:
        """Delete a gone worker's stream."""
        self._client.delete(self.inbox_key(worker_id))

    def publish_report(self, report: Report) -> None:
        """XADD the report to the shared reports stream."""
        self._add(self._reports, report.to_dict(), REPORTS_MAXLEN)

    def publish_reports(self, reports: Sequence[Report]) -> None:
        """XADD the reports to the shared reports stream, all in one pipeline."""
        fields = entry_fields(reports, self._batched)
        self._add_many([(self._reports, f) for f in fields], REPORTS_MAXLEN)

    def receive_reports(
        self, consumer: str, max_count: int, timeout: float
    ) -> list[Received[Report]]:
        """XREADGROUP new reports; every few seconds also XAUTOCLAIM long-pending ones. A read
        takes whole entries, so it may return up to one batch entry more than `max_count`."""
        self._ensure_group()
        received = self._reclaim(consumer, max_count)
        if len(received) < max_count:
            try:
                answer = self._client.xreadgroup(
                    GROUP,
                    consumer,
                    {self._reports: ">"},
                    count=self._entries_for(self._reports, max_count - len(received)),
                    block=block_ms(timeout) if not received else None,
                )
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._group_ready = False  # the stream was flushed; recreate next time
                return received
            for _stream, entries in answer or []:
                received += self._readable(entries)
        return received

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest unreadable messages taken out of the streams, newest first."""
        return self._dead_letters.newest(limit)

    def ack_reports(self, tokens: list[str]) -> None:
        """XACK the entries whose every report is recorded and delete them from the stream."""
        if done := self._acks.complete(tokens):
            pipe = self._client.pipeline(transaction=False)
            pipe.xack(self._reports, GROUP, *done)
            pipe.xdel(self._reports, *done)
            pipe.execute()

    def publish_heartbeat(self, heartbeat: Heartbeat) -> None:
        """XADD to the heartbeat stream every listener reads."""
        self._add(self._heartbeats, heartbeat.to_dict(), HEARTBEATS_MAXLEN)

    def heartbeat_listener(self) -> RedisHeartbeatListener:
        """A reader of the heartbeat stream from now on."""
        return RedisHeartbeatListener(self._client, self._heartbeats)

    def publish_logs(self, lines: Sequence[dict[str, Any]]) -> None:
        """RPUSH log lines to the shared list, trimmed to the newest LOGS_MAXLEN."""
        if lines:
            pipe = self._client.pipeline(transaction=False)
            pipe.rpush(self._logs, *(orjson.dumps(line) for line in lines))
            pipe.ltrim(self._logs, -LOGS_MAXLEN, -1)
            pipe.execute()

    def take_logs(self, max_count: int) -> list[dict[str, Any]]:
        """LPOP up to `max_count` log lines (each taken by one caller; none waits)."""
        taken = self._client.lpop(self._logs, max_count) or []
        lines = []
        for raw in taken:
            try:
                lines.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                logger.warning("unreadable log line on the bus skipped")
        return lines

    def ping(self) -> None:
        """PING Redis."""
        self._client.ping()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def delete_all(self) -> None:
        """Remove every key under the prefix (tests and tools)."""
        keys = list(self._client.scan_iter(match=f"{self.prefix}:*", count=1_000))
        if keys:
            self._client.delete(*keys)

    def _add(self, key: str, data: dict[str, Any], maxlen: int) -> None:
        self._client.xadd(key, {"m": orjson.dumps(data)}, maxlen=maxlen, approximate=True)

    def _add_many(self, entries: list[tuple[str, dict[str, bytes]]], maxlen: int) -> None:
        if not entries:
            return
        # Not a transaction: one round trip, in order; a retry after a failure may repeat
        # some entries, which every reader already tolerates (at-least-once).
        pipe = self._client.pipeline(transaction=False)
        for key, fields in entries:
            pipe.xadd(key, fields, maxlen=maxlen, approximate=True)
        pipe.execute()

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self._client.xgroup_create(self._reports, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    def _reclaim(self, consumer: str, max_count: int) -> list[Received[Report]]:
        now = time.monotonic()
        if now - self._last_reclaim.get(consumer, 0.0) < RECLAIM_EVERY_SECONDS:
            return []
        self._last_reclaim[consumer] = now
        try:
            answer = self._client.xautoclaim(
                self._reports, GROUP, consumer, RECLAIM_IDLE_MS, "0-0", count=max_count
            )
        except redis.ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            self._group_ready = False
            return []
        entries = answer[1] if answer else []
        return self._readable([(entry_id, fields) for entry_id, fields in entries if fields])

    def _readable(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Received[Report]]:
        """Reports that parse; an unreadable one is moved to the dead stream and acked, so it
        cannot block the stream or be claimed again and again."""
        received: list[Received[Report]] = []
        buried: list[str] = []
        for entry_id, fields in entries:
            unpacked = unpack(fields, Report.from_dict, (Report,))
            self._entry_sizes[self._reports] = max(unpacked.count, 1)
            entry, batched = entry_id.decode(), b"b" in fields
            for index, report in unpacked.messages:
                tag = token(entry, index, unpacked.count, batched)
                received.append(Received(report, tag))
            for index, error in unpacked.failures:
                self._dead_letters.bury(self._reports, entry_id, fields, error, index)
                buried.append(token(entry, index, unpacked.count, batched))
        if buried:
            self.ack_reports(buried)
        return received

    def _entries_for(self, key: str, wanted: int) -> int:
        """How many entries to read for `wanted` messages, by the size of the last one read."""
        return max(1, -(-wanted // self._entry_sizes.get(key, 1)))
