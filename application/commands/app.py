"""The command side as one eventsourcing Application: every change is an event saved here."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, ClassVar

from application.commands.backfills import BackfillCommands
from application.commands.controls import ControlCommands
from application.commands.decisions import DecisionCommands
from application.commands.group_commit import GroupCommit
from application.commands.namespaces import NamespaceCommands
from application.commands.retention import RetentionCommands
from application.commands.runs import RunCommands
from application.commands.saved_topics import SavedTopics
from application.commands.tasks import TaskCommands
from application.commands.workers import WorkerCommands
from application.keys import KeyCommands
from application.ports import IdFactory, random_ids
from application.secrets import NoSecretBox, Opener, Sealer, SecretBox
from application.subscriptions.commands import SubscriptionCommands
from application.task_numbers import TaskNumbers
from domain.backfill import Backfill
from domain.retention import Retention
from domain.snapshot import SchedulerSnapshot
from domain.subscription import Subscription
from domain.task import Task
from domain.task_name import TaskName
from domain.worker import Worker

SNAPSHOT_INTERVAL = 100  # events between snapshots; a save that takes one also reloads once


class SchedulerApp(
    KeyCommands,
    NamespaceCommands,
    SubscriptionCommands,
    TaskCommands,
    RunCommands,
    DecisionCommands,
    ControlCommands,
    WorkerCommands,
    BackfillCommands,
    RetentionCommands,
):
    """Tasks, runs and workers: every change is an event saved here, and only here."""

    name = "Scheduler"  # names the event table: scheduler_events
    # Long-lived aggregates load from a snapshot plus the events after it (issue: a task
    # edited or misfiring for years, a name reused many times). Runs are short by design.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {
        Task: SNAPSHOT_INTERVAL,
        TaskName: SNAPSHOT_INTERVAL,
        Worker: SNAPSHOT_INTERVAL,
        Subscription: SNAPSHOT_INTERVAL,  # one DeadLettered per event given up on
        Backfill: SNAPSHOT_INTERVAL,  # two events per slot it runs: up to 20,000
        Retention: SNAPSHOT_INTERVAL,  # one Applied an interval, for as long as the store lives
    }
    snapshot_class = SchedulerSnapshot

    def __init__(
        self,
        env: dict[str, str] | None = None,
        new_id: IdFactory = random_ids,
        draw: Callable[[], float] = random.random,
        secrets: SecretBox | None = None,
    ) -> None:
        super().__init__(env=env)
        self._new_id = new_id
        self._draw = draw  # randomness is an input: retry jitter
        # Without a key, secret values are refused (422), never stored in plain text.
        self.secrets: SecretBox = secrets or NoSecretBox()
        self._sealer = Sealer(self.secrets)
        self.opener = Opener(self.secrets)
        self.task_numbers = TaskNumbers(self.created_task_rows)
        self.group_commit = GroupCommit(lambda stored: self.recorder.insert_events(stored))
        self.recent_saves = SavedTopics()
