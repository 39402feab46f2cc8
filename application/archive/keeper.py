"""The retention window applied on a timer: Retention.Applied, and partitions kept ahead."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from application.archive.ports import LiveStore
from application.archive.service import retention_cutoff
from application.ports import Clock
from domain.context import CommandContext

if TYPE_CHECKING:
    from application.commands.app import SchedulerApp

logger = logging.getLogger(__name__)


@dataclass
class RetentionKeeper:
    """Every `interval` seconds: record the window's cutoff and keep spare partitions ahead."""

    app: SchedulerApp
    live: LiveStore
    clock: Clock
    actor: str
    window_hours: float
    interval: float

    def once(self) -> None:
        """Record Retention.Applied for now minus the window; extend the partitions."""
        now = self.clock.now()
        ctx = CommandContext(actor=self.actor, now=now, correlation_id=uuid.uuid4())
        self.app.apply_retention(retention_cutoff(now, self.window_hours), self.window_hours, ctx)
        for change in self.live.keep_ahead():
            logger.info(change, extra={"action": "partitioned"})

    def run_forever(self, stop: threading.Event) -> None:
        """Until stopped; a failure is logged and tried again at the next interval."""
        while not stop.is_set():
            try:
                self.once()
            except Exception as error:  # a database blip or a missing grant must not stop it
                logger.warning("retention round failed: %s", error, extra={"action": "retention"})
            stop.wait(self.interval)
