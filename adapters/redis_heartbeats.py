"""Reading the Redis heartbeat stream: every listener sees every worker's beats."""

from __future__ import annotations

import logging

import orjson
import redis

from adapters.redis_entries import block_ms
from application.messages import Heartbeat

logger = logging.getLogger(__name__)


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
        answer = self._client.xread(
            {self._key: self._cursor}, count=max_count, block=block_ms(timeout)
        )
        beats: list[Heartbeat] = []
        for _stream, entries in answer or []:
            for entry_id, fields in entries:
                self._cursor = entry_id.decode()
                try:
                    beats.append(Heartbeat.from_dict(orjson.loads(fields[b"m"])))
                except Exception as error:  # a heartbeat is a hint: skip it, say so
                    logger.warning("unreadable heartbeat %s skipped: %s", entry_id, error)
        return beats

    def close(self) -> None:
        """Nothing to release: the client belongs to the bus."""
