"""Keeps the process's session alive and rings a doorbell on NOTIFY, so followers wake at once.

Two channels: the event store's (a save anywhere: followers of the log wake) and the views'
(a projection runner anywhere committed a batch: read-your-writes waits wake, no polling).
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from adapters.postgres.session import PostgresSession
from application.ports import Wakeup

logger = logging.getLogger(__name__)

CHANNEL = "scheduler_events"  # eventsourcing NOTIFYs on the events table's name
LISTEN = f"LISTEN {CHANNEL}"
VIEWS_CHANNEL = "scheduler_views"  # projection runners NOTIFY it in each batch's transaction
LISTEN_VIEWS = f"LISTEN {VIEWS_CHANNEL}"
NOTIFY_VIEWS = f"NOTIFY {VIEWS_CHANNEL}"  # delivered at commit, and only if it commits
NOTIFY_WAIT_SECONDS = 0.25  # the session is shared: lock takers wait at most this long
PING_SECONDS = 5.0  # a dead session (and so lost leases) is noticed within about this
RECONNECT_MIN_SECONDS = 0.25
RECONNECT_MAX_SECONDS = 1.0


def keep_session(
    session: PostgresSession,
    wakeup: Wakeup,
    stop: threading.Event,
    views: Wakeup | None = None,
) -> None:
    """Until stopped: ring on NOTIFY, ping now and then, reconnect after a loss.

    The session must be set up with `LISTEN` (and `LISTEN_VIEWS` for `views`, rung when
    views advance); followers also poll on a timer, and a reconnect rings both, since events
    may have been saved and applied while it was away.
    """
    failing = False
    backoff = RECONNECT_MIN_SECONDS
    next_ping = time.monotonic() + PING_SECONDS
    while not stop.is_set():
        if not session.connected:
            try:
                session.connect()
            except psycopg.Error as error:
                if not failing:  # once per outage, not once a second
                    logger.warning("PostgreSQL session unavailable (%s); retrying", error)
                failing = True
                stop.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_SECONDS)
                continue
            if failing:
                logger.info("PostgreSQL session reconnected")
            failing, backoff = False, RECONNECT_MIN_SECONDS
            _ring_all(wakeup, views)
        try:
            channel = session.wait_for_notification(NOTIFY_WAIT_SECONDS)
            if channel is not None:
                _bell(channel, wakeup, views).ring()
            if time.monotonic() >= next_ping:
                next_ping = time.monotonic() + PING_SECONDS
                session.ping()
        except psycopg.Error as error:
            if session.connected:  # an error that left the connection usable: just log it
                logger.warning("PostgreSQL session error: %s", error)
                stop.wait(RECONNECT_MIN_SECONDS)
            else:
                failing = True


def _bell(channel: str, wakeup: Wakeup, views: Wakeup | None) -> Wakeup:
    """The doorbell a NOTIFY on `channel` rings."""
    return views if channel == VIEWS_CHANNEL and views is not None else wakeup


def _ring_all(wakeup: Wakeup, views: Wakeup | None) -> None:
    wakeup.ring()
    if views is not None:
        views.ring()
