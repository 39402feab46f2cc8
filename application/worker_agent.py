"""The worker: takes deliveries from the bus, runs them, reports back; holds no database."""

from __future__ import annotations

import logging
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from uuid import UUID

from application.attempt_reports import AttemptReports, attempt_log_context
from application.bus import Bus
from application.messages import Control, Delivery, Heartbeat, Report
from application.ports import SystemClock
from application.report_sender import ReportSender
from application.run_executor import InlineRunExecutor, RunExecutor
from application.tracing import NO_TRACER, Tracer
from domain.secrets import redact
from domain.worker import WorkerProfile

logger = logging.getLogger(__name__)

SEEN_DELIVERIES = 10_000  # enough to absorb redeliveries; older ones are long finished
RESEND_AFTER_SECONDS = 5.0  # unconfirmed registrations and final reports go out again
BACKLOG_LIMIT = 10_000  # deliveries read while every slot was busy
SYSTEM_CLOCK = SystemClock()


class WorkerAgent:
    """Runs at most `max_concurrent_tasks` attempts at once, each at most once per attempt.

    Reports are resent until the dispatcher confirms them, so a lost message (or a flushed
    bus) delays an outcome but never loses it.
    """

    def __init__(
        self,
        profile: WorkerProfile,
        bus: Bus,
        run_executor: RunExecutor,
        *,
        heartbeat_interval: float = 5.0,
        poll_interval: float = 0.5,
        new_id: Callable[[], UUID] = uuid.uuid4,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = SYSTEM_CLOCK.now,
        remember_secrets: Callable[[tuple[str, ...]], None] = lambda _secrets: None,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self.profile = profile
        self._tracer = tracer
        self._remember_secrets = remember_secrets  # so this process's logs mask them too
        self._bus = bus
        self._run = run_executor
        # Callable attempts start on the executor's own pool or loop, not on a thread here.
        self._inline = run_executor if isinstance(run_executor, InlineRunExecutor) else None
        self._sender = ReportSender(bus.publish_reports)
        self._heartbeat_interval = heartbeat_interval
        self._poll = poll_interval
        self._new_id = new_id
        self._monotonic = monotonic
        self._clock = clock  # stamps the start of an attempt as this worker saw it
        self._pool = ThreadPoolExecutor(profile.max_concurrent_tasks, thread_name_prefix="run")
        self._lock = threading.Lock()
        self._running: dict[tuple[UUID, int], None] = {}
        self._seen: OrderedDict[tuple[UUID, int], None] = OrderedDict()
        self._latest: dict[tuple[UUID, int], Report] = {}  # last report of each attempt
        self._unconfirmed: dict[tuple[UUID, int], float] = {}  # final reports, sent at
        self._registered_confirmed = False
        self._registered_sent_at = 0.0
        self.draining = threading.Event()
        self._backlog: deque[Delivery] = deque(maxlen=BACKLOG_LIMIT)
        self.worker_id: UUID = new_id()

    def _free(self) -> int:
        return self.profile.max_concurrent_tasks - self.running

    @property
    def running(self) -> int:
        """How many attempts are executing now."""
        with self._lock:
            return len(self._running)

    @property
    def orphaned_threads(self) -> int:
        """Threads still running callables that timed out or were cancelled (0 if none)."""
        return int(getattr(self._run, "orphaned_threads", 0))

    def start(self) -> UUID:
        """Announce this worker; the dispatcher records the registration."""
        self._register()
        self._beat()
        self._sender.flush()  # announced when this returns
        return self.worker_id

    def run_forever(self, stop: threading.Event, grace_seconds: float = 30.0) -> None:
        """Take and run deliveries until stopped or drained, then leave the pool cleanly."""
        if not self._registered_sent_at:
            self.start()
        # Beat until this worker has left, not until it is told to stop: a draining worker
        # must keep its lease, or its runs would be taken from it mid-drain.
        left = threading.Event()
        beating = threading.Thread(target=self._beat_until, args=(left,), daemon=True)
        beating.start()
        while not stop.is_set() and not (self.draining.is_set() and self.running == 0):
            while self._backlog and self._free() > 0 and not self.draining.is_set():
                self._accept(self._backlog.popleft())
            try:
                # Read even when full: controls (cancel, drain) must not wait for a free slot.
                messages = self._bus.receive_inbox(self.worker_id, 100, self._poll)
            except Exception:  # the bus is down: keep running what we have, retry soon
                logger.warning("cannot read the inbox; retrying", exc_info=True)
                stop.wait(1.0)
                continue
            for message in messages:
                if isinstance(message, Control):
                    self._control(message)
                elif not self.draining.is_set():
                    # Kept until a slot frees (the dispatcher never sends more than capacity,
                    # except redeliveries, which _accept deduplicates).
                    self._backlog.append(message)
            while self._backlog and self._free() > 0 and not self.draining.is_set():
                self._accept(self._backlog.popleft())
        try:
            self._leave(grace_seconds)
        finally:
            left.set()
            stop.set()

    def drain(self) -> None:
        """Take no new work; leave once what runs has finished."""
        if not self.draining.is_set():
            self.draining.set()
            self._sender.send(Report("draining", None, 0, self.worker_id))

    # Inbox

    def _control(self, control: Control) -> None:
        if control.kind == "recorded":
            if control.run_id is None:
                self._registered_confirmed = True
            else:
                key = (control.run_id, control.attempt)
                with self._lock:
                    self._unconfirmed.pop(key, None)
                    self._latest.pop(key, None)
        elif control.kind == "drain":
            self.drain()
        elif control.kind == "cancel" and control.run_id is not None:
            self._run.cancel(control.run_id, control.attempt)
        elif control.kind == "rejoin":
            self._rejoin()

    def _accept(self, delivery: Delivery) -> None:
        key = (delivery.run_id, delivery.attempt)
        with self._lock:
            if key in self._seen:
                # A redelivery: the dispatcher has not heard from us; say it again.
                latest = self._latest.get(key)
                if latest is not None:
                    self._sender.send(latest, keep=True)
                return
            self._seen[key] = None
            while len(self._seen) > SEEN_DELIVERIES:
                self._seen.popitem(last=False)
            self._running[key] = None
        with attempt_log_context(delivery):  # an inline attempt's loop task inherits it
            if self._inline is None or not self._begin(delivery):
                self._pool.submit(self._execute, delivery)

    def _rejoin(self) -> None:
        # The dispatchers declared this worker lost: its attempts were given to others.
        # Kill them and join again under a new identity.
        cancelled = self._run.cancel_all()
        logger.warning("declared lost; cancelled %d attempts and rejoining", cancelled)
        self.worker_id = self._new_id()
        self._registered_confirmed = False
        self._register()

    # Execution

    def _execute(self, delivery: Delivery) -> None:
        self._remember_secrets(delivery.secrets)
        attempt = AttemptReports(delivery, self._report, self._clock, self._tracer)
        with attempt_log_context(delivery):  # what the executor logs carries the run's ids
            try:
                attempt.finished(self._run.execute(delivery, attempt.started, attempt.output))
            except Exception as error:  # report the failure rather than lose the run
                self._crashed(attempt.crashed(), error)
            finally:
                self._release(delivery)

    def _begin(self, delivery: Delivery) -> bool:
        assert self._inline is not None
        self._remember_secrets(delivery.secrets)
        attempt = AttemptReports(delivery, self._report, self._clock, self._tracer)

        def finished(result: Any) -> None:
            try:
                attempt.finished(result)
            finally:
                self._release(delivery)

        try:
            return self._inline.begin(delivery, attempt.started, finished)
        except Exception as error:  # report the failure rather than lose the run
            self._crashed(attempt.crashed(), error)
            self._release(delivery)
            return True

    def _crashed(self, delivery: Delivery, error: Exception) -> None:
        # The error may quote the task's secrets: logged and reported with them masked.
        trace = redact("".join(traceback.format_exception(error)), delivery.secrets)
        logger.error("execution crashed: %s", trace, extra={"run_id": str(delivery.run_id)})
        self._report(delivery, "failed", error=f"worker error: {error}")

    def _release(self, delivery: Delivery) -> None:
        with self._lock:
            self._running.pop((delivery.run_id, delivery.attempt), None)

    def _report(self, delivery: Delivery, kind: Any, **fields: Any) -> None:
        # A secret the task printed (or an error quoting one) leaves the worker as ***.
        for name in ("output", "error"):
            if isinstance(fields.get(name), str):
                fields[name] = redact(fields[name], delivery.secrets)
        report = Report(
            kind=kind,
            run_id=delivery.run_id,
            attempt=delivery.attempt,
            worker_id=delivery.worker_id,
            hostname=self.profile.hostname,
            traceparent=delivery.traceparent,
            **fields,
        )
        key = (delivery.run_id, delivery.attempt)
        with self._lock:
            # Output so far is sent once: the next one, or the final report, supersedes it.
            if report.kind != "output":
                self._latest[key] = report
            if report.is_final:
                self._unconfirmed[key] = self._monotonic()
        self._sender.send(report)  # a final one is resent until confirmed
        with attempt_log_context(delivery):  # a callback may run outside the attempt's
            logger.info("attempt %s", kind, extra={"action": f"attempt_{kind}"})

    # Heartbeats and resends

    def _beat_until(self, stop: threading.Event) -> None:
        while not stop.wait(self._heartbeat_interval):
            try:
                self._beat()
                self._resend()
            except Exception:  # a missed beat only shortens the lease; keep beating
                logger.warning("heartbeat failed", exc_info=True)

    def _beat(self) -> None:
        with self._lock:
            running = tuple(self._running)
        self._bus.publish_heartbeat(
            Heartbeat(self.worker_id, self.profile.name, running, self.draining.is_set())
        )

    def _resend(self) -> None:
        now = self._monotonic()
        if not self._registered_confirmed and now - self._registered_sent_at > RESEND_AFTER_SECONDS:
            self._register()
        with self._lock:
            due = [k for k, at in self._unconfirmed.items() if now - at > RESEND_AFTER_SECONDS]
            for key in due:
                self._unconfirmed[key] = now
            reports = [self._latest[k] for k in due if k in self._latest]
        for report in reports:
            self._sender.send(report)  # a final one is resent until confirmed

    def _register(self) -> None:
        self._registered_sent_at = self._monotonic()
        self._sender.send(Report("registered", None, 0, self.worker_id, profile=self.profile))

    # Leaving

    def _leave(self, grace_seconds: float) -> None:
        # Drain: take nothing new, let running attempts end within the grace period,
        # then kill what is left so no child process outlives its worker.
        self.drain()
        deadline = self._monotonic() + grace_seconds
        while self.running and self._monotonic() < deadline:
            time.sleep(0.05)
        if self.running:
            logger.warning("cancelling %d attempts at shutdown", self._run.cancel_all())
        self._pool.shutdown(wait=True)
        # Last, after every final report: the dispatcher must not see us leave before them.
        self._sender.send(Report("deregistered", None, 0, self.worker_id))
        self._sender.close()
