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

from adapters.tls import TlsFiles
from application.bus import Received
from application.messages import Control, Delivery, Heartbeat, Report, inbox_message_from_dict

logger = logging.getLogger(__name__)

GROUP = "dispatchers"
REPORTS_MAXLEN = 100_000  # approximate trim; workers resend unconfirmed final reports anyway
INBOX_MAXLEN = 10_000
HEARTBEATS_MAXLEN = 10_000
RECLAIM_IDLE_MS = 30_000  # a report pending this long belongs to a dead dispatcher: take it
RECLAIM_EVERY_SECONDS = 5.0
DEAD_MAXLEN = 10_000  # unreadable messages kept for operators (docs/operations.md)
LOGS_MAXLEN = 10_000  # shipped log lines waiting for a dispatcher; the oldest go first


class RedisStreamsBus:
    """All streams live under `prefix`, so several deployments or test runs can share Redis."""

    def __init__(
        self,
        url: str,
        prefix: str = "scheduler",
        socket_timeout: float = 5.0,
        tls: TlsFiles | None = None,
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
        self._inbox_cursors: dict[UUID, str] = {}
        self._lock = threading.Lock()

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
        """XADD each message to its worker's stream, all in one pipeline."""
        self._add_many([(self.inbox_key(m.worker_id), m.to_dict()) for m in messages], INBOX_MAXLEN)

    def receive_inbox(
        self, worker_id: UUID, max_count: int, timeout: float
    ) -> list[Delivery | Control]:
        """XREAD the worker's stream after the last entry it saw (from the start at first)."""
        key = self.inbox_key(worker_id)
        with self._lock:
            cursor = self._inbox_cursors.get(worker_id, "0-0")
        answer = self._client.xread({key: cursor}, count=max_count, block=_ms(timeout))
        messages: list[Delivery | Control] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                cursor = entry_id.decode()
                try:
                    messages.append(inbox_message_from_dict(_decode(fields)))
                except Exception as error:  # one unreadable message must not stop the inbox
                    self._bury(key, entry_id, fields, error)
        if messages:
            with self._lock:
                self._inbox_cursors[worker_id] = cursor
        elif cursor != "0-0" and not self._client.exists(key):
            # The stream vanished (FLUSHALL or a restart): start again from the beginning.
            with self._lock:
                self._inbox_cursors[worker_id] = "0-0"
        return messages

    def drop_inbox(self, worker_id: UUID) -> None:
        """Delete a gone worker's stream."""
        self._client.delete(self.inbox_key(worker_id))

    def publish_report(self, report: Report) -> None:
        """XADD the report to the shared reports stream."""
        self._add(self._reports, report.to_dict(), REPORTS_MAXLEN)

    def publish_reports(self, reports: Sequence[Report]) -> None:
        """XADD the reports to the shared reports stream, all in one pipeline."""
        self._add_many([(self._reports, r.to_dict()) for r in reports], REPORTS_MAXLEN)

    def receive_reports(
        self, consumer: str, max_count: int, timeout: float
    ) -> list[Received[Report]]:
        """XREADGROUP new reports; every few seconds also XAUTOCLAIM long-pending ones."""
        self._ensure_group()
        received = self._reclaim(consumer, max_count)
        if len(received) < max_count:
            try:
                answer = self._client.xreadgroup(
                    GROUP,
                    consumer,
                    {self._reports: ">"},
                    count=max_count - len(received),
                    block=_ms(timeout) if not received else None,
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
        rows = self._client.xrevrange(self._dead, count=limit)
        return [{k.decode(): v.decode(errors="replace") for k, v in f.items()} for _id, f in rows]

    def ack_reports(self, tokens: list[str]) -> None:
        """XACK recorded reports and delete them from the stream."""
        if tokens:
            pipe = self._client.pipeline(transaction=False)
            pipe.xack(self._reports, GROUP, *tokens)
            pipe.xdel(self._reports, *tokens)
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

    def _add_many(self, entries: list[tuple[str, dict[str, Any]]], maxlen: int) -> None:
        if not entries:
            return
        # Not a transaction: one round trip, in order; a retry after a failure may repeat
        # some entries, which every reader already tolerates (at-least-once).
        pipe = self._client.pipeline(transaction=False)
        for key, data in entries:
            pipe.xadd(key, {"m": orjson.dumps(data)}, maxlen=maxlen, approximate=True)
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
        received = []
        for entry_id, fields in entries:
            try:
                received.append(Received(Report.from_dict(_decode(fields)), entry_id.decode()))
            except Exception as error:
                self._bury(self._reports, entry_id, fields, error)
                pipe = self._client.pipeline(transaction=False)
                pipe.xack(self._reports, GROUP, entry_id)
                pipe.xdel(self._reports, entry_id)
                pipe.execute()
        return received

    def _bury(
        self, source: str, entry_id: bytes, fields: dict[bytes, bytes], error: Exception
    ) -> None:
        raw = fields.get(b"m", b"") if isinstance(fields, dict) else b""
        logger.error(
            "unreadable message %s in %s moved to %s: %s: %s",
            entry_id.decode(),
            source,
            self._dead,
            type(error).__name__,
            error,
        )
        self._client.xadd(
            self._dead,
            {
                "source": source,
                "id": entry_id,
                "error": f"{type(error).__name__}: {error}"[:1000],
                "m": raw,
            },
            maxlen=DEAD_MAXLEN,
            approximate=True,
        )


class RedisHeartbeatListener:
    """Reads the heartbeat stream after the last entry it saw."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._client = client
        self._key = key
        # Pin "from now on" to the current last entry: XREAD's "$" would be re-read on every
        # call and miss what arrives between two calls.
        newest = client.xrevrange(key, count=1)
        self._cursor = newest[0][0].decode() if newest else "0-0"

    def receive(self, max_count: int, timeout: float) -> list[Heartbeat]:
        """Heartbeats since the last call (blocking up to `timeout` for the first)."""
        answer = self._client.xread({self._key: self._cursor}, count=max_count, block=_ms(timeout))
        beats: list[Heartbeat] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                self._cursor = entry_id.decode()
                try:
                    beats.append(Heartbeat.from_dict(_decode(fields)))
                except Exception as error:  # a heartbeat is a hint: skip it, say so
                    logger.warning("unreadable heartbeat %s skipped: %s", entry_id, error)
        return beats

    def close(self) -> None:
        """Nothing to release: the client belongs to the bus."""


def _decode(fields: dict[bytes, bytes]) -> dict[str, Any]:
    return orjson.loads(fields[b"m"])


def _ms(timeout: float) -> int | None:
    # XREAD BLOCK 0 waits forever; a zero timeout means "do not block" here.
    return max(1, int(timeout * 1000)) if timeout > 0 else None
