"""Rings a doorbell on PostgreSQL NOTIFY from the event store, so followers wake at once."""

from __future__ import annotations

import logging
import threading

import psycopg

from application.ports import Wakeup

logger = logging.getLogger(__name__)

CHANNEL = "scheduler_events"  # eventsourcing NOTIFYs on the events table's name


def listen_forever(conninfo: str, wakeup: Wakeup, stop: threading.Event) -> None:
    """LISTEN until stopped; reconnect after errors (followers also poll on a timer)."""
    failing = False
    while not stop.is_set():
        try:
            with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as connection:
                connection.execute(f"LISTEN {CHANNEL}")
                if failing:
                    logger.info("event listener reconnected")
                    wakeup.ring()  # events may have arrived while we were away
                failing = False
                while not stop.is_set():
                    for _ in connection.notifies(timeout=1.0, stop_after=1):
                        wakeup.ring()
        except psycopg.Error as error:
            if not failing:  # once per outage, not once a second
                logger.warning("event listener lost its connection (%s); retrying", error)
            failing = True
            stop.wait(1.0)
