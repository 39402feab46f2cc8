"""Shared fixtures for unit tests: no servers, a fixed clock, the in-memory event store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from application.commands.app import SchedulerApp
from application.ports import FakeClock
from domain.context import CommandContext
from tests.unit.rig import Rig, make_spec  # noqa: F401  (re-exported to tests)

START = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when told."""
    return FakeClock(START)


@pytest.fixture
def ctx(clock: FakeClock) -> CommandContext:
    """A command context of a test operator."""
    return CommandContext(actor="tester", now=clock.now(), correlation_id=uuid.uuid4())


@pytest.fixture
def app() -> Iterator[SchedulerApp]:
    """The application on the in-memory (POPO) event store."""
    with SchedulerApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}) as application:
        yield application


@pytest.fixture
def rig(app: SchedulerApp, clock: FakeClock) -> Rig:
    """A dispatcher rig on the in-memory store and bus."""
    return Rig(app, clock)
