"""`scheduler events query`: the log filtered through its index, and the forensic views."""

from __future__ import annotations

import json
from datetime import datetime

import click

from domain.errors import NotFoundError
from entrypoints.cli_support import (
    ConfigPaths,
    aware_time,
    config_option,
    load_cli_settings,
    open_store,
)
from projections.event_records import event_record
from projections.queries.events import (
    EventFilter,
    indexed_through,
    matching_positions,
)
from projections.queries.events import assigned_after_lost as runs_assigned_after_lost


@click.command("query")
@click.option("--type", "type_", help="Exact event type, e.g. TaskRun.Failed.")
@click.option("--aggregate", help="A task, run or worker id: its events.")
@click.option("--actor", help="Exact actor (key:ops), or a prefix ending in * (worker:*).")
@click.option("--correlation-id", help="Everything one request or bulk command caused.")
@click.option("--task", "task_ref", help="A task's number, UUID or name: its and its runs' events.")
@click.option("--worker", "worker_id", help="A worker's id: its events and its assignments.")
@click.option(
    "--since", callback=aware_time, help="Recorded at or after this ISO time (with zone)."
)
@click.option("--until", callback=aware_time, help="Recorded before this ISO time (with zone).")
@click.option("--after", type=click.IntRange(min=0), default=0, help="Events after this position.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=1_000, show_default=True)
@click.option(
    "--assigned-after-lost",
    is_flag=True,
    help="Instead: runs assigned to a worker after the log declared it lost.",
)
@config_option
def query(
    type_: str | None,
    aggregate: str | None,
    actor: str | None,
    correlation_id: str | None,
    task_ref: str | None,
    worker_id: str | None,
    since: datetime | None,
    until: datetime | None,
    after: int,
    limit: int,
    assigned_after_lost: bool,
    config: ConfigPaths,
) -> None:
    """Print the events matching every filter given, oldest first, as JSON lines.

    Reads the event index (a projection): if it is behind the log, the newest events are not
    matched yet, and a line on stderr says how far it has reached.
    """
    if since is not None and until is not None and until <= since:
        raise click.BadParameter("must be later than --since", param_hint="--until")
    with open_store(load_cli_settings(config), migrate=True) as (app, database):
        task_id = None
        if task_ref is not None:
            try:
                task_id = str(app.resolve_task_ref(task_ref))
            except NotFoundError:
                raise click.BadParameter(f"no task {task_ref!r}", param_hint="--task") from None
        wanted = EventFilter(
            type=type_,
            aggregate_id=aggregate,
            actor=actor,
            correlation_id=correlation_id,
            task_id=task_id,
            worker_id=worker_id,
            since=since,
            until=until,
        )
        if assigned_after_lost:
            for found in runs_assigned_after_lost(database, wanted, limit):
                click.echo(json.dumps(found, default=str))
        else:
            if wanted.empty:
                raise click.UsageError("give at least one filter (or use events tail)")
            positions = matching_positions(database, wanted, after, limit)
            for position, event in app.events_at(positions):
                click.echo(json.dumps(event_record(event, position), default=str))
        reached, head = indexed_through(database), app.head_position()
    if reached < head:
        click.echo(f"the index has reached position {reached} of {head}", err=True)
