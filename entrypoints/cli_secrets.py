"""`scheduler secrets reseal`: after a key rotation, move every task's secrets to the new key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import click
from eventsourcing.persistence import Notification

from application.commands.app import SchedulerApp
from application.ports import SystemClock
from application.secrets import NoSecretBox
from application.task_numbers import CREATED_TOPIC
from domain.context import CommandContext
from domain.errors import DomainError
from domain.secrets import sealed_key_ids
from domain.task_spec import validate_spec
from entrypoints.bootstrap import build_secret_box
from entrypoints.cli_support import ConfigPaths, config_option, load_cli_settings, open_store

ACTOR = "cli:secrets-reseal"
REQUESTED_TOPICS = ["scheduler:TaskRun.Requested", "scheduler:TaskRun.ShardRequested"]
FINISHED_TOPICS = [
    f"scheduler:TaskRun.{name}"
    for name in ("Succeeded", "Failed", "TimedOut", "Cancelled", "Skipped", "UpstreamFailed")
]


@click.group()
def secrets() -> None:
    """Secret values: sealed with SCHEDULER_SECRET_KEY (docs/security.md#secrets)."""


@secrets.command()
@click.option("--dry-run", is_flag=True, help="Only say which tasks would be sealed again.")
@config_option
def reseal(dry_run: bool, config: ConfigPaths) -> None:
    """Seal every live task's secrets with the first key of SCHEDULER_SECRET_KEY.

    Each task changed gets a Task.Updated by cli:secrets-reseal. Then it lists the keys that
    unfinished runs still need: remove an old key only once none does.
    """
    settings = load_cli_settings(config)
    box = build_secret_box(settings)
    if isinstance(box, NoSecretBox):
        raise click.ClickException("SCHEDULER_SECRET_KEY is not set: nothing to seal with")
    current, clock = box.current_key_id, SystemClock()
    with open_store(settings, secrets=box) as (app, _database):
        changed = failed = 0
        for task_id in _live_tasks(app):
            task = app.get_task(task_id)
            if not sealed_key_ids(task.spec) - {current} and not _plain_secrets(task.spec):
                continue
            if dry_run:
                click.echo(f"would reseal task {task.name!r}")
                changed += 1
                continue
            ctx = CommandContext(actor=ACTOR, now=clock.now(), correlation_id=uuid.uuid4())
            try:
                app.reseal_task(task_id, ctx)
            except DomainError as error:  # a value no configured key opens: say so, go on
                click.echo(f"task {task.name!r}: {error}", err=True)
                failed += 1
                continue
            click.echo(f"resealed task {task.name!r}")
            changed += 1
        in_use = _keys_of_unfinished_runs(app) - {current}
    verb = "would be resealed" if dry_run else "resealed"
    click.echo(f"{changed} tasks {verb} with key {current}")
    if in_use:
        click.echo(f"unfinished runs still need keys: {', '.join(sorted(in_use))}")
    else:
        click.echo("no unfinished run needs another key")
    if failed:
        raise click.ClickException(f"{failed} tasks could not be resealed (see above)")


def _plain_secrets(spec: dict[str, Any]) -> list[str]:
    try:
        return validate_spec(spec).unsealed_secrets()
    except DomainError:  # a definition stored before a rule existed: its update says why
        return ["?"]


def _live_tasks(app: SchedulerApp) -> list[uuid.UUID]:
    # The store types an originator id as UUID | str; every task's is a UUID.
    ids = [uuid.UUID(str(n.originator_id)) for n in _notifications(app, [CREATED_TOPIC])]
    return [i for i in ids if app.get_task(i).status != "deleted"]


def _keys_of_unfinished_runs(app: SchedulerApp) -> set[str]:
    """From the log, not the runs view: a view behind would hide a run that needs a key."""
    finished = {n.originator_id for n in _notifications(app, FINISHED_TOPICS)}
    keys: set[str] = set()
    for notification in _notifications(app, REQUESTED_TOPICS):
        if notification.originator_id not in finished:
            event = app.decode(notification)
            keys |= sealed_key_ids(getattr(event, "task", {}))
            keys |= sealed_key_ids(getattr(event, "params", {}))
    return keys


def _notifications(app: SchedulerApp, topics: list[str]) -> Iterator[Notification]:
    after = 0
    while page := app.recorder.select_notifications(
        start=after, limit=1_000, topics=topics, inclusive_of_start=False
    ):
        yield from page
        after = page[-1].id
