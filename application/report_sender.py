"""Sends a worker's reports in batches: what queued while the last bus call was in flight."""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence

from application.messages import Report

logger = logging.getLogger(__name__)

MAX_BATCH = 500  # reports per bus call; a burst beyond it goes out in several calls


class ReportSender:
    """One thread publishes queued reports with one `publish_many` call per batch.

    A lone report goes out at once (no waiting for company); reports that arrive while a
    call is in flight share the next one. A start report whose attempt's final report is in
    the same batch is dropped, since the final report repeats the start (unless it was sent
    with `keep`: a repeat the dispatcher asked for); so is an output report a later output or
    final report of its attempt in the batch supersedes. A failed call is logged; final reports
    are kept by the worker and resent until confirmed.
    """

    def __init__(
        self, publish_many: Callable[[Sequence[Report]], None], max_batch: int = MAX_BATCH
    ) -> None:
        self._publish_many = publish_many
        self._max_batch = max_batch
        self._queue: deque[tuple[Report, bool]] = deque()  # (report, keep)
        self._in_flight = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0  # bus calls made, for tests and benchmarks

    def send(self, report: Report, keep: bool = False) -> None:
        """Queue a report for the next batch (`keep`: never dropped as redundant)."""
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._serve, name="reports", daemon=True)
                self._thread.start()
            self._queue.append((report, keep))
            self._cond.notify_all()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued report was handed to the bus; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._in_flight, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued, then stop the thread."""
        self.flush(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _serve(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._publish_many(coalesce(batch))
                self.batches += 1
            except Exception:  # final reports are resent by the worker's heartbeat loop
                logger.warning("cannot publish %d reports; finals will be resent", len(batch))
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _take(self) -> list[tuple[Report, bool]] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._closed)
            if not self._queue:
                return None
            count = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(count)]
            self._in_flight = len(batch)
            return batch


def coalesce(batch: list[tuple[Report, bool]]) -> list[Report]:
    """The batch's reports without those a later one of their attempt makes redundant.

    A start report goes when its attempt's final report is in the batch (it repeats the
    start); an output report goes when a later output or final report of its attempt is
    (each carries the whole tail so far).
    """
    finals = {(r.run_id, r.attempt) for r, _keep in batch if r.is_final}
    last_output: dict[tuple[object, int], int] = {}
    for index, (report, _keep) in enumerate(batch):
        if report.kind == "output":
            last_output[(report.run_id, report.attempt)] = index
    kept = []
    for index, (report, keep) in enumerate(batch):
        key = (report.run_id, report.attempt)
        if report.kind == "started" and not keep and key in finals:
            continue
        if report.kind == "output" and (key in finals or last_output[key] != index):
            continue
        kept.append(report)
    return kept
