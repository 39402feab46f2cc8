"""`scheduler backfill`: preview or start the runs of a task's past slots."""

from __future__ import annotations

from datetime import datetime

import click

from domain.backfill import MAX_CONCURRENCY, OVERLAP_POLICIES
from domain.errors import DomainError, InvalidFieldError, NotFoundError
from entrypoints.cli_keys import cli_context
from entrypoints.cli_support import (
    ConfigPaths,
    aware_time,
    config_option,
    load_cli_settings,
    open_store,
)

OPTION_OF_FIELD = {"from": "--from", "to": "--to", "concurrency": "--concurrency"}


@click.command("backfill")
@click.argument("task_ref", metavar="TASK")
@click.option("--from", "start", callback=aware_time, required=True, help="ISO time with zone.")
@click.option(
    "--to", "end", callback=aware_time, required=True, help="ISO time with zone (included)."
)
@click.option("--dry-run", is_flag=True, help="List the slots and whether each has a run.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=1,
    show_default=True,
    help="At most this many of its runs in flight.",
)
@click.option(
    "--overlap-policy",
    type=click.Choice(OVERLAP_POLICIES),
    default="allow",
    show_default=True,
    help="allow: its runs overlap each other; task: each follows the task's concurrency_policy.",
)
@config_option
def backfill(
    task_ref: str,
    start: datetime,
    end: datetime,
    dry_run: bool,
    concurrency: int,
    overlap_policy: str,
    config: ConfigPaths,
) -> None:
    """Run TASK's slots from --from to --to (a dispatcher requests them), or preview them.

    A slot that already has a run keeps it: the runs have the ids cron uses, so running the
    same backfill twice adds nothing. The last line is the backfill's id (without --dry-run).
    """
    with open_store(load_cli_settings(config), migrate=True) as (app, _database):
        ctx = cli_context()
        try:
            task_id = app.resolve_task_ref(task_ref)
            if dry_run:
                slots = app.preview_backfill(task_id, start, end, ctx.now)
                for slot, exists in slots:
                    click.echo(f"{slot.isoformat()}  {'exists' if exists else 'new'}")
                existing = sum(1 for _, exists in slots if exists)
                click.echo(f"{len(slots)} slots, {existing} with a run already (dry run)")
                return
            result = app.start_backfill(task_id, (start, end), concurrency, overlap_policy, ctx)
        except NotFoundError:
            raise click.BadParameter(f"no task {task_ref!r}", param_hint="TASK") from None
        except InvalidFieldError as error:
            hint = OPTION_OF_FIELD.get(error.field, "TASK")
            raise click.BadParameter(error.message, param_hint=hint) from None
        except DomainError as error:
            raise click.ClickException(str(error)) from None
        started = app.get_backfill(result.aggregate_id)
        click.echo(
            f"backfill started: {started.slots_total} slots, at most {concurrency} in flight;"
            f" follow it with GET /api/backfills/{started.id}"
        )
        click.echo(str(started.id))
