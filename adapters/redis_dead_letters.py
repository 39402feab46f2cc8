"""The dead-letter stream: unreadable bus messages, kept for operators instead of blocking."""

from __future__ import annotations

import logging
from typing import Any

import redis

logger = logging.getLogger(__name__)

DEAD_MAXLEN = 10_000  # unreadable messages kept for operators (docs/operations.md)


class DeadLetters:
    """Moves an unreadable message to `<prefix>:dead`, naming where it came from and why."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        self._client = client
        self.key = key

    def bury(
        self,
        source: str,
        entry_id: bytes,
        fields: dict[bytes, bytes],
        error: Exception,
        index: int = 0,
    ) -> None:
        """Keep the entry's raw message (a batch entry whole) with its id, `#index` in a batch."""
        raw = (fields.get(b"m") or fields.get(b"b") or b"") if isinstance(fields, dict) else b""
        batched = isinstance(fields, dict) and b"b" in fields
        where = f"{entry_id.decode()}#{index}" if batched else entry_id.decode()
        logger.error(
            "unreadable message %s in %s moved to %s: %s: %s",
            where,
            source,
            self.key,
            type(error).__name__,
            error,
        )
        self._client.xadd(
            self.key,
            {
                "source": source,
                "id": where,
                "error": f"{type(error).__name__}: {error}"[:1000],
                "m": raw,
            },
            maxlen=DEAD_MAXLEN,
            approximate=True,
        )

    def newest(self, limit: int) -> list[dict[str, Any]]:
        """The newest unreadable messages, newest first."""
        rows = self._client.xrevrange(self.key, count=limit)
        return [{k.decode(): v.decode(errors="replace") for k, v in f.items()} for _id, f in rows]
