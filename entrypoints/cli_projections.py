"""`scheduler projections status|rebuild`: inspect and rebuild the read-side projections."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import click

from adapters.database_errors import STORE_ERRORS
from application.quarantine import QuarantineEntry
from entrypoints.bootstrap import rebuild_job, rebuild_lock
from entrypoints.cli_support import (
    ConfigPaths,
    config_option,
    load_cli_settings,
    open_store,
    unreachable_error,
)
from projections.base import Projection
from projections.catalog import all_projections
from projections.quarantine import SqlQuarantineLedger
from projections.rebuild import RebuildResult, progress_printer
from projections.shadow_tables import RebuildError
from projections.status import ProjectionState, now_utc, read_states

SHOWN_DIFFERENCES = 20
REBUILD_CHILD_APPLICATION_NAME = "scheduler-cli-rebuild"  # its parallel replay processes


@click.group()
def projections() -> None:
    """Inspect and rebuild the projections that keep the read tables."""


@projections.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@config_option
def status(as_json: bool, config: ConfigPaths) -> None:
    """Show each projection's position, the log head, the lag, the last error and what it holds
    in quarantine (and what other consumers of the log hold)."""
    with open_store(load_cli_settings(config), migrate=True) as (app, database):
        states = read_states(database, app, all_projections())
        held = SqlQuarantineLedger(database).entries()
    now = now_utc()
    by_consumer: dict[str, list[QuarantineEntry]] = {}
    for entry in held:
        by_consumer.setdefault(entry.consumer, []).append(entry)
    if as_json:
        # Each projection with what it holds (the dispatcher's: `scheduler quarantine list`).
        records = [
            _state_record(s, now, by_consumer.get(f"projection:{s.name}", [])) for s in states
        ]
        click.echo(json.dumps(records, indent=2))
        return
    rows = [
        [
            s.name,
            ",".join(s.tables),
            str(s.position),
            "?" if s.head is None else str(s.head),
            "?" if s.lag is None else str(s.lag),
            "degraded" if s.problem(now) else "ok",
            _ago(s.updated_at, now),
            _ago(s.rebuilt_at, now),
            str(len(by_consumer.get(f"projection:{s.name}", []))),
            f"{_ago(s.last_error_at, now)}: {s.last_error}" if s.last_error else "-",
        ]
        for s in states
    ]
    header = ["PROJECTION", "TABLES", "POSITION", "HEAD", "LAG", "STATE", "ADVANCED"]
    click.echo(_table([[*header, "REBUILT", "QUARANTINED", "LAST ERROR"], *rows]))
    if held:
        click.echo(f"\nquarantined ({len(held)}; repair: scheduler quarantine retry|release REF):")
        for entry in held:
            click.echo(
                f"  {entry.consumer} {entry.aggregate_type} {entry.aggregate_id} from position "
                f"{entry.position} ({entry.held_count} held): {entry.error}"
            )


@projections.command()
@click.argument("name", required=False)
@click.option("--verify", is_flag=True, help="Compare rebuilt and live rows; exit 1 if any differ.")
@click.option("--dry-run", is_flag=True, help="Build (and with --verify compare), never swap in.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=100_000),
    default=5_000,
    show_default=True,
    help="Log events per shadow transaction.",
)
@config_option
def rebuild(
    name: str | None, verify: bool, dry_run: bool, batch_size: int, config: ConfigPaths
) -> None:
    """Rebuild NAME (default: every projection) from the log into new tables and swap them in.

    The API keeps reading the old tables until the swap, which is one transaction. Progress
    goes to stderr; the result to stdout.
    """
    chosen = _choose(name)
    settings = load_cli_settings(config)
    with open_store(settings, migrate=True) as (app, database), ExitStack() as stack:
        try:
            for projection in chosen:
                stack.enter_context(rebuild_lock(database, projection.name))
            job = stack.enter_context(
                rebuild_job(
                    app,
                    database,
                    chosen,
                    batch_size,
                    progress_printer(sys.stderr),
                    env=settings.eventstore_env(REBUILD_CHILD_APPLICATION_NAME),
                )
            )
            result = job.run(switch=not dry_run, verify=verify)
        except RebuildError as error:  # also RebuildLockedError: another rebuild holds it
            raise click.ClickException(str(error)) from None
        except STORE_ERRORS as error:  # shadows dropped
            raise unreachable_error("rebuild failed", error) from None
    _report(result, verify)
    if result.differing_rows:
        sys.exit(1)


def _choose(name: str | None) -> list[Projection]:
    known = all_projections()
    if name is None:
        return known
    chosen = [p for p in known if p.name == name]
    if not chosen:
        names = ", ".join(p.name for p in known)
        raise click.BadParameter(f"no projection {name!r} (known: {names})", param_hint="NAME")
    return chosen


def _report(result: RebuildResult, verify: bool) -> None:
    positions = ", ".join(f"{n} at {p}" for n, p in result.positions.items())
    rate = result.events / result.elapsed if result.elapsed > 0 else 0.0
    done = "swapped in" if result.switched else "dry run, live tables unchanged"
    click.echo(
        f"rebuilt {len(result.positions)} projection(s) from {result.events} events in "
        f"{result.elapsed:.1f}s ({rate:,.0f} events/s); {done}: {positions}"
    )
    if result.quarantined:
        click.echo(f"quarantined by the replay ({len(result.quarantined)}):")
        for entry in result.quarantined[:SHOWN_DIFFERENCES]:
            click.echo(
                f"  {entry.consumer} {entry.aggregate_type} {entry.aggregate_id} from position "
                f"{entry.position}: {entry.error}"
            )
    if not verify:
        return
    if not result.differing_rows:
        click.echo("verify: rebuilt tables equal the live tables")
        return
    click.echo(f"verify: {result.differing_rows} row(s) differ between live and rebuilt:")
    for difference in result.differences[:SHOWN_DIFFERENCES]:
        click.echo(f"  {difference.describe()}")
    if result.differing_rows > SHOWN_DIFFERENCES:
        click.echo(f"  ... and {result.differing_rows - SHOWN_DIFFERENCES} more")


def _state_record(
    state: ProjectionState, now: datetime, held: list[QuarantineEntry]
) -> dict[str, Any]:
    return {
        "projection": state.name,
        "tables": list(state.tables),
        "position": state.position,
        "head": state.head,
        "lag": state.lag,
        "status": "degraded" if state.problem(now) else "ok",
        "reason": state.problem(now),
        "advanced_at": _iso(state.updated_at),
        "rebuilt_at": _iso(state.rebuilt_at),
        "last_error": state.last_error,
        "last_error_at": _iso(state.last_error_at),
        "quarantined": len(held),
        "quarantine": [e.as_record() for e in held],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = max((now - value).total_seconds(), 0)
    if seconds < 120:
        return f"{seconds:.0f}s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m ago"
    return f"{seconds / 3600:.0f}h ago"


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    )
