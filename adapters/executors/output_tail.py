"""A bounded buffer that keeps the end of a process's output, and the pace it is shown at."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import IO

logger = logging.getLogger(__name__)

READ_CHUNK = 65_536
# Output so far, while the attempt runs: its last 4 KiB, at most once a second and, as the
# attempt ages, once a tenth of its age, so a day-long chatty attempt records ~130 of them.
PROGRESS_BYTES = 4096
PROGRESS_SECONDS = 1.0
PROGRESS_AGE_SHARE = 0.1


class OutputTail:
    """Keeps only the last `limit` bytes fed to it, counting what it dropped."""

    def __init__(self, limit: int) -> None:
        self._limit = max(limit, 0)
        self._buffer = bytearray()
        self._lock = threading.Lock()  # a reader thread feeds while the executor reads
        self.dropped = 0
        self.fed = 0  # bytes fed in all: tells whether there is new output

    def feed(self, chunk: bytes) -> None:
        """Append a chunk, forgetting the oldest bytes beyond the limit."""
        with self._lock:
            self._buffer += chunk
            self.fed += len(chunk)
            excess = len(self._buffer) - self._limit
            if excess > 0:
                del self._buffer[:excess]
                self.dropped += excess

    def text(self, limit: int | None = None) -> str:
        """The tail (its last `limit` bytes) as UTF-8, after a marker line if bytes dropped."""
        with self._lock:
            body, dropped = bytes(self._buffer), self.dropped
        if limit is not None and len(body) > limit:
            dropped, body = dropped + len(body) - limit, body[len(body) - limit :]
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


class OutputPace:
    """Shows a running attempt's output so far: when it grew, at most at the pace above."""

    def __init__(self, tail: OutputTail, show: Callable[[str], None], started: float) -> None:
        self._tail = tail
        self._show = show
        self._started = started
        self._next = started + PROGRESS_SECONDS
        self._shown = 0  # tail.fed when last shown

    def wait(self, now: float) -> float:
        """Seconds until the next look."""
        return max(self._next - now, 0.0)

    def look(self, now: float) -> None:
        """Show the output so far if it grew and its time has come."""
        if now < self._next:
            return
        self._next = now + max(PROGRESS_SECONDS, (now - self._started) * PROGRESS_AGE_SHARE)
        fed = self._tail.fed
        if fed == self._shown:
            return
        self._shown = fed
        try:
            self._show(self._tail.text(PROGRESS_BYTES))
        except Exception:  # the output so far is a courtesy: it never stops the attempt
            logger.warning("cannot report the output so far", exc_info=True)
