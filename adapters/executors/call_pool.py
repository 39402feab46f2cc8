"""The worker's one pool of threads for sync `callable` functions."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

Job = Callable[[], None]


class CallPool:
    """`size` threads run jobs; a thread written off (its call overran) is replaced at once.

    Python cannot kill a thread, so a call that times out or is cancelled keeps its thread
    until the function returns. Writing it off starts a replacement, so the worker keeps
    `size` usable threads; the stuck one exits when its function finally returns. Threads are
    created at the first job and on a write-off, never per call.
    """

    def __init__(self, size: int, name: str = "callable") -> None:
        self.size = max(size, 1)
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._orphans: set[int] = set()  # idents of written-off threads still running
        self._live = 0  # threads that will take another job
        self._spawned = 0
        self._closed = False

    @property
    def orphaned(self) -> int:
        """Written-off threads whose function has not returned yet."""
        with self._lock:
            return len(self._orphans)

    @property
    def threads_started(self) -> int:
        """Threads created since the pool was made (size + one per write-off)."""
        with self._lock:
            return self._spawned

    def submit(self, job: Job) -> None:
        """Run `job` on the next free thread; it must not raise."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the call pool is shut down")
            while self._live < self.size:
                self._spawn()
        self._jobs.put(job)

    def write_off(self, ident: int) -> None:
        """Give up on the thread `ident` (running a job now) and start its replacement."""
        with self._lock:
            if ident in self._orphans:
                return
            self._orphans.add(ident)
            self._live -= 1
            if not self._closed:
                self._spawn()

    def shutdown(self) -> None:
        """Let live threads finish their jobs and exit; orphans exit when their calls return."""
        with self._lock:
            self._closed = True
            live = self._live
        for _ in range(live):
            self._jobs.put(None)

    def _spawn(self) -> None:
        self._live += 1
        self._spawned += 1
        # Daemon: a function stuck forever must not keep the worker process alive.
        thread = threading.Thread(
            target=self._work, name=f"{self._name}-{self._spawned}", daemon=True
        )
        thread.start()

    def _work(self) -> None:
        me = threading.get_ident()
        while True:
            job = self._jobs.get()
            if job is None:
                return
            job()
            with self._lock:
                if me in self._orphans:  # replaced while it ran: leave the pool
                    self._orphans.discard(me)
                    return
