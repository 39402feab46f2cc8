"""A typed Python client of the scheduler's HTTP API (sync and async, over httpx)."""

from __future__ import annotations

from entrypoints.client.aio import AsyncSchedulerClient
from entrypoints.client.errors import RunWaitTimeoutError, SchedulerError
from entrypoints.client.models import BatchTriggered, Event, Run, Task, TaskPage, Triggered
from entrypoints.client.sync import SchedulerClient

__all__ = [
    "AsyncSchedulerClient",
    "BatchTriggered",
    "Event",
    "Run",
    "RunWaitTimeoutError",
    "SchedulerClient",
    "SchedulerError",
    "Task",
    "TaskPage",
    "Triggered",
]
