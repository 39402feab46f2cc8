"""How the dispatcher's rounds go, told to its beacon (for /health in every process)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from application.dispatch.policy import DispatcherBeacon, NullBeacon
from application.ports import Clock
from application.quarantine import describe

logger = logging.getLogger(__name__)

BEAT_EVERY_SECONDS = 1.0  # how often the dispatcher says it is alive, whatever it does


class RoundHealth:
    """Counts failed rounds and beats into the beacon at most once a second unless forced."""

    def __init__(
        self,
        name: str,
        beacon: DispatcherBeacon | None,
        clock: Clock,
        monotonic: Callable[[], float],
        position: Callable[[], int],
    ) -> None:
        self.name = name
        self.beacon: DispatcherBeacon = beacon or NullBeacon()
        self._clock = clock
        self._monotonic = monotonic
        self._position = position
        self.started_at = clock.now()
        self.failed_rounds = 0
        self.last_error: str | None = None
        self.last_round_at: datetime | None = None
        self._last_beat = -BEAT_EVERY_SECONDS

    def beat(self, force: bool = False) -> None:
        """Tell the beacon the dispatcher is alive (a missed beat is only logged)."""
        now = self._monotonic()
        if not force and now - self._last_beat < BEAT_EVERY_SECONDS:
            return
        self._last_beat = now
        try:
            self.beacon.beat(
                self.name,
                self.started_at,
                self._clock.now(),
                position=self._position(),
                round_at=self.last_round_at,
                failed_rounds=self.failed_rounds,
                error=self.last_error,
            )
        except Exception as error:  # the database is down: the beat is missed, nothing else
            logger.debug("dispatcher beat not recorded: %s", error)

    def round_done(self, error: Exception | None) -> None:
        """Count a round; the first failure after a success is told at once."""
        if error is None:
            self.failed_rounds, self.last_error = 0, None
            self.last_round_at = self._clock.now()
        else:
            self.failed_rounds += 1
            self.last_error = describe(error)
        self.beat(force=error is not None and self.failed_rounds == 1)

    def stopped(self) -> None:
        """Tell the beacon the dispatcher stopped."""
        try:
            self.beacon.stopped(self.name, self._clock.now())
        except Exception as error:
            logger.debug("dispatcher stop not recorded: %s", error)
