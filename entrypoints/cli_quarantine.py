"""`scheduler quarantine list|retry|release`: see and repair what consumers of the log hold."""

from __future__ import annotations

import json
import sys
import time
from typing import Any
from uuid import UUID

import click

from application.commands.app import SchedulerApp
from application.quarantine import HELD, RELEASE, RETRY, QuarantineEntry
from domain.errors import NotFoundError
from domain.ids import parse_uuid
from domain.secrets import mask_text
from entrypoints.cli_support import ConfigPaths, config_option, load_cli_settings, open_store
from projections.quarantine import SqlQuarantineLedger
from projections.status import now_utc

WAIT_POLL_SECONDS = 0.2
STILL_HELD_EXIT = 3  # some consumer still holds it: its error says why


@click.group()
def quarantine() -> None:
    """Aggregates the consumers of the log hold because one of their events failed."""


@quarantine.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also released and resolved entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@config_option
def list_entries(show_all: bool, as_json: bool, config: ConfigPaths) -> None:
    """Show each held aggregate: consumer, type, first position not applied, error."""
    with open_store(load_cli_settings(config), migrate=True) as (_app, database):
        entries = SqlQuarantineLedger(database).entries(statuses=None if show_all else (HELD,))
    if as_json:
        click.echo(json.dumps([_masked(e.as_record()) for e in entries], indent=2))
        return
    if not entries:
        click.echo("nothing is quarantined")
        return
    for entry in entries:
        click.echo(_line(entry))


@quarantine.command()
@click.argument("ref")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 600),
    default=15.0,
    show_default=True,
    help="Seconds to wait for the consumers to act (0: do not).",
)
@config_option
def retry(ref: str, wait_seconds: float, config: ConfigPaths) -> None:
    """Re-apply REF's held events in every consumer holding it (once the cause is fixed).

    REF is an aggregate's UUID, or a task's number or name.
    """
    _request(ref, RETRY, wait_seconds, config)


@quarantine.command()
@click.argument("ref")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(0, 600),
    default=15.0,
    show_default=True,
    help="Seconds to wait for the consumers to act (0: do not).",
)
@config_option
def release(ref: str, wait_seconds: float, config: ConfigPaths) -> None:
    """Give up on REF's held events up to the log head; its later events apply as usual.

    REF is an aggregate's UUID, or a task's number or name.
    """
    _request(ref, RELEASE, wait_seconds, config)


def _request(ref: str, action: str, wait_seconds: float, config: ConfigPaths) -> None:
    with open_store(load_cli_settings(config), migrate=True) as (app, database):
        aggregate_id = str(_aggregate(app, ref))
        ledger = SqlQuarantineLedger(database)
        count = ledger.request(aggregate_id, action, app.head_position(), now_utc())
        if count == 0:
            raise click.ClickException(f"no consumer holds {ref!r} ({aggregate_id})")
        click.echo(f"asked {count} consumer(s) to {action} {aggregate_id}")
        if wait_seconds == 0:
            return
        deadline = time.monotonic() + wait_seconds
        while True:
            pending = [e for e in ledger.entries(None, (HELD,), [aggregate_id])]
            asked = [e for e in pending if e.request == action]
            if not asked or time.monotonic() > deadline:
                break
            time.sleep(WAIT_POLL_SECONDS)
        outcome = ledger.entries(None, statuses=None, aggregate_ids=[aggregate_id])
    for entry in outcome:
        click.echo(_line(entry))
    if asked:
        click.echo(f"{len(asked)} consumer(s) have not acted yet (are they running?)", err=True)
    if any(e.status == HELD for e in outcome):
        sys.exit(STILL_HELD_EXIT)


def _aggregate(app: SchedulerApp, ref: str) -> UUID:
    parsed = parse_uuid(ref)
    if parsed is not None:
        return parsed
    try:
        return app.resolve_task_ref(ref)
    except NotFoundError:
        raise click.ClickException(f"no task or aggregate {ref!r}") from None


def _line(entry: QuarantineEntry) -> str:
    request = f" (asked: {entry.request})" if entry.request else ""
    note = f" - {entry.note}" if entry.note else ""
    return (
        f"{entry.status:<9} {entry.consumer:<24} {entry.aggregate_type} {entry.aggregate_id} "
        f"from position {entry.position}, {entry.held_count} held{request}: "
        f"{mask_text(entry.error)}{note}"
    )


def _masked(record: dict[str, Any]) -> dict[str, Any]:
    # A consumer's error may quote what it read: URL passwords and secret=value hidden.
    return {**record, "error": mask_text(str(record.get("error", "")))}
