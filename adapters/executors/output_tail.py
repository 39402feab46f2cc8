"""A bounded buffer that keeps the end of a process's output."""

from __future__ import annotations

import os
import threading
from typing import IO

READ_CHUNK = 65_536


class OutputTail:
    """Keeps only the last `limit` bytes fed to it, counting what it dropped."""

    def __init__(self, limit: int) -> None:
        self._limit = max(limit, 0)
        self._buffer = bytearray()
        self._lock = threading.Lock()  # a reader thread feeds while the executor reads
        self.dropped = 0

    def feed(self, chunk: bytes) -> None:
        """Append a chunk, forgetting the oldest bytes beyond the limit."""
        with self._lock:
            self._buffer += chunk
            excess = len(self._buffer) - self._limit
            if excess > 0:
                del self._buffer[:excess]
                self.dropped += excess

    def text(self) -> str:
        """The tail decoded as UTF-8, after a marker line when bytes were dropped."""
        with self._lock:
            body, dropped = bytes(self._buffer), self.dropped
        if not dropped:
            return body.decode("utf-8", errors="replace")
        # The cut may fall inside a character: skip its continuation bytes, not show U+FFFD.
        start = 0
        while start < min(3, len(body)) and 0x80 <= body[start] <= 0xBF:
            start += 1
        text = body[start:].decode("utf-8", errors="replace")
        return f"[... {dropped + start} bytes truncated ...]\n{text}"


def pump(stream: IO[bytes], tail: OutputTail) -> None:
    """Copy a stream into the tail until EOF, so the child never blocks on a full pipe."""
    with stream:
        while chunk := os.read(stream.fileno(), READ_CHUNK):  # returns as soon as any bytes arrive
            tail.feed(chunk)
