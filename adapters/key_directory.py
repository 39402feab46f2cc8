"""The API keys an API process accepts: the api_keys table, cached and refreshed every 2 s.

A revocation reaches every API process within the projector's lag plus REFRESH_SECONDS. If
the table cannot be read for longer than MAX_STALE_SECONDS, keys are not accepted at all
(KeysUnavailableError -> 503) rather than trusted from an old copy. When each key was last
used is noted in memory and written to api_key_usage at most once a minute per key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from application.keys import key_digest, same_digest
from projections.api_keys import KeyRow, read_keys
from projections.ports import Database

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0
MISS_REFRESH_SECONDS = 0.5  # an unknown key re-reads the table at most this often
MAX_STALE_SECONDS = 5.0  # the promise: a revoked key is refused everywhere within 5 s
USAGE_WRITE_SECONDS = 60.0
UPSERT_USAGE = """
INSERT INTO api_key_usage (key_id, last_used_at) VALUES (%(key_id)s, %(at)s)
ON CONFLICT (key_id) DO UPDATE SET last_used_at = excluded.last_used_at
WHERE api_key_usage.last_used_at < excluded.last_used_at
"""


class KeysUnavailableError(Exception):
    """The keys table could not be read recently enough to trust the cached copy."""


class KeyDirectory:
    """Finds a key row by its secret, from a copy of the api_keys table."""

    def __init__(self, database: Database, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._db = database
        self._monotonic = monotonic
        self._by_hash: dict[str, KeyRow] = {}
        self._loaded_at: float | None = None  # monotonic time of the last good read
        self._tried_at = float("-inf")
        self._lock = threading.Lock()
        self._used: dict[UUID, datetime] = {}  # noted, not yet written
        self._written: dict[UUID, float] = {}  # key -> monotonic time of the last write

    def due(self, missed: bool = False) -> bool:
        """Whether the copy should be read again now (a miss asks sooner)."""
        age = self._monotonic() - self._tried_at
        return age >= (MISS_REFRESH_SECONDS if missed else REFRESH_SECONDS)

    def refresh(self, *, if_due: bool = False, missed: bool = False) -> None:
        """Read the table again (blocking: call it off the event loop); write usage notes.

        With `if_due`, only when no other request read it meanwhile (many requests may find
        the copy due at once; one read serves them all).
        """
        with self._lock:
            if if_due and not self.due(missed):
                return
            self._tried_at = self._monotonic()
            try:
                rows = read_keys(self._db)
            except Exception:
                logger.warning("cannot read the api_keys table", exc_info=True)
                return
            self._by_hash = {row.key_hash: row for row in rows}
            self._loaded_at = self._monotonic()
            self._write_usage()

    def find(self, secret: str) -> KeyRow | None:
        """The row of a key, whatever its state (None: no such key).

        Raises:
            KeysUnavailableError: the table has not been read for MAX_STALE_SECONDS.
        """
        if self._loaded_at is None or self._monotonic() - self._loaded_at > MAX_STALE_SECONDS:
            raise KeysUnavailableError("the API keys cannot be read from the database")
        digest = key_digest(secret)
        row = self._by_hash.get(digest)
        # The dict finds the row by its digest; the comparison that decides is constant-time.
        return row if row is not None and same_digest(row.key_hash, digest) else None

    def note_used(self, key_id: UUID, at: datetime) -> None:
        """Remember that a key was used (written later, at most once a minute per key)."""
        self._used[key_id] = at

    def _write_usage(self) -> None:
        now = self._monotonic()
        due = [
            (key_id, at)
            for key_id, at in list(self._used.items())
            if now - self._written.get(key_id, float("-inf")) >= USAGE_WRITE_SECONDS
        ]
        if not due:
            return
        try:
            with self._db.transaction() as tx:
                tx.executemany(UPSERT_USAGE, [{"key_id": k, "at": at} for k, at in due])
        except Exception:
            logger.warning("cannot record when API keys were last used", exc_info=True)
            return
        for key_id, at in due:
            self._written[key_id] = now
            if self._used.get(key_id) == at:
                del self._used[key_id]
