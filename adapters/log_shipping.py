"""Ships a process's log records to where GET /api/system/logs reads them, in the background.

The handler only puts the record on a bounded queue: a caller never waits for a database or
a broker, and when the queue is full the record is dropped and counted (the count reaches
the sink later as a warning line of its own). A thread takes batches off the queue,
formats them as JSON objects and hands them to the sink: a table writer (processes with a
database) or the bus (workers).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from adapters.log_format import JsonLineFormatter

logger = logging.getLogger(__name__)

Line = dict[str, Any]
Sink = Callable[[list[Line]], None]

CAPACITY = 10_000  # records waiting to be shipped; past that they are dropped and counted
BATCH = 500  # records per write
INTERVAL_SECONDS = 1.0  # a record waits at most about this long before it is shipped
COMPLAIN_EVERY_SECONDS = 60.0
CLOSE_SECONDS = 2.0  # a failing sink is reported on stderr at most this often


class LogShipper(logging.Handler):
    """A handler whose records a background thread hands to `sink` in batches.

    Without a sink yet (a process still opening its database) records wait in the queue
    until `attach` gives one.
    """

    def __init__(
        self,
        sink: Sink | None = None,
        *,
        level: int = logging.INFO,
        capacity: int = CAPACITY,
        batch: int = BATCH,
        interval: float = INTERVAL_SECONDS,
        name: str = "log-shipper",
    ) -> None:
        super().__init__(level)
        self._sink = sink
        self._attached = threading.Event()
        if sink is not None:
            self._attached.set()
        self._queue: queue.Queue[logging.LogRecord] = queue.Queue(maxsize=capacity)
        self._batch, self._interval = batch, interval
        self.setFormatter(JsonLineFormatter())  # may be wrapped (entrypoints/redaction.py)
        self.dropped = 0  # records lost: queue full, or a batch the sink refused
        self._reported_dropped = 0
        self._complained_at = float("-inf")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record (already stamped and masked by the handler's filters)."""
        if threading.current_thread() is self._thread:
            return  # the shipper's own troubles would feed themselves: stderr only
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def attach(self, sink: Sink) -> None:
        """Ship to `sink` from now on (with what waited for it)."""
        self._sink = sink
        self._attached.set()

    def flush(self) -> None:
        """Wait (briefly) until what is queued has been handed to the sink."""
        self.drain(CLOSE_SECONDS)

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait until what is queued now has been handed to the sink; False on timeout."""
        if not self._attached.is_set():
            return False
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def close(self) -> None:
        """Ship what is queued (two seconds at most: a process shutting down must not hang on
        an unreachable database), then stop the thread."""
        self.drain(CLOSE_SECONDS)
        self._stop.set()
        self._thread.join(CLOSE_SECONDS)
        super().close()

    def _serve(self) -> None:
        while not self._attached.wait(self._interval):
            if self._stop.is_set():
                return
        while not self._stop.is_set():
            records = self._take()
            if records or self.dropped != self._reported_dropped:
                self._ship(records)

    def _take(self) -> list[logging.LogRecord]:
        try:
            records = [self._queue.get(timeout=self._interval)]
        except queue.Empty:
            return []
        while len(records) < self._batch:
            try:
                records.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return records

    def _ship(self, records: list[logging.LogRecord]) -> None:
        lines = [line for record in records if (line := self._line(record)) is not None]
        reported = self._reported_dropped
        if self.dropped != reported and (dropped := self._dropped_line()):
            lines.append(dropped)
        try:
            assert self._sink is not None  # attached before the first batch
            self._sink(lines)
        except Exception as error:  # the logs must never take the process down
            self._reported_dropped = reported  # the count is said again with the next batch
            self.dropped += len(records)
            self._complain(error)
        finally:
            for _ in records:
                self._queue.task_done()

    def _line(self, record: logging.LogRecord) -> Line | None:
        try:
            line: Line = orjson.loads(self.format(record))
        except Exception:  # a record that cannot be formatted is not shipped
            self.dropped += 1
            return None
        line["level_no"] = record.levelno
        return line

    def _dropped_line(self) -> Line | None:
        lost, self._reported_dropped = self.dropped - self._reported_dropped, self.dropped
        record = logging.LogRecord(
            __name__,
            logging.WARNING,
            __file__,
            0,
            "%d log records were dropped before shipping (queue full or sink failing)",
            (lost,),
            None,
        )
        self.filter(record)  # stamped and masked like any other record of this process
        record.dropped = lost
        return self._line(record)

    def _complain(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._complained_at >= COMPLAIN_EVERY_SECONDS:
            self._complained_at = now
            # Logged from this thread: the other handlers (stderr) show it, masked; this
            # handler leaves it out.
            logger.warning(
                "cannot ship log records (%d dropped so far): %s: %s",
                self.dropped,
                type(error).__name__,
                error,
            )
