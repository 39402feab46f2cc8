"""`scheduler audit verify|head|lock-down`: the log's tamper-evidence chain and guards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from adapters.audit_chain import MissingChainTableError, SqlChainStore
from adapters.database_errors import STORE_ERRORS
from adapters.event_store_role import LockDownError, ensure_append_only, lock_down_role
from adapters.sql_store import StoreDatabase
from application.archive.merged_log import ArchivedLog
from application.audit import BATCH_SIZE, AuditChainFollower, check_anchors, verify_chain
from application.audit_check import parse_anchor as parse_position_hash
from application.commands.app import SchedulerApp
from entrypoints.cli_support import (
    ConfigPaths,
    config_option,
    load_cli_settings,
    open_store,
    unreachable_error,
)

EXIT_BROKEN = 3  # 1 is "could not check" (config, connection), 2 is a usage error


@contextmanager
def audit_store(
    config: ConfigPaths, create_tables: bool
) -> Iterator[tuple[SchedulerApp, StoreDatabase]]:
    """The event store and the chain's database; audit errors become clean CLI errors."""
    # Reading needs no DDL, and a locked-down application role may not run any.
    with open_store(load_cli_settings(config), create_tables=create_tables) as store:
        try:
            yield store
        except (MissingChainTableError, LockDownError) as error:
            raise click.ClickException(str(error)) from None
        except STORE_ERRORS as error:
            raise unreachable_error("audit failed", error) from None


def parse_anchor(value: str) -> tuple[int, bytes]:
    """POSITION:HEX, as printed by `scheduler audit head`."""
    try:
        return parse_position_hash(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not POSITION:HASH", param_hint="--anchor") from None


@click.group()
def audit() -> None:
    """Check that the event log was not edited, deleted from or reordered."""


@audit.command()
@click.option("--from", "start", type=click.IntRange(min=1), help="First position to check.")
@click.option("--to", "until", type=click.IntRange(min=1), help="Last position to check.")
@click.option(
    "--extend/--no-extend",
    default=True,
    show_default=True,
    help="Chain the events not chained yet before checking (needs INSERT on audit_chain).",
)
@click.option(
    "--anchor",
    "anchors",
    multiple=True,
    help="POSITION:HASH kept elsewhere (from `audit head`); the chain must still have it.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(100, 100_000),
    default=BATCH_SIZE,
    show_default=True,
    help="Events and links per query.",
)
@config_option
def verify(
    start: int | None,
    until: int | None,
    extend: bool,
    anchors: tuple[str, ...],
    batch_size: int,
    config: ConfigPaths,
) -> None:
    """Recompute the chain from the stored events; name the first position that breaks it.

    Exit status: 0 intact, 3 broken, 1 could not check.
    """
    expected = dict(parse_anchor(a) for a in anchors)
    with audit_store(config, create_tables=False) as (app, database):
        store = SqlChainStore(database)
        store.check_table()
        chained = 0
        if extend:
            try:
                chained = AuditChainFollower(app.stored_log, store, batch_size).catch_up(until)
            except Exception as error:  # a read-only auditor can still verify what is chained
                click.echo(f"warning: could not extend the chain: {error}", err=True)
        anchor = store.last_before(start) if start else None
        # Archived events left the live store; the chain still covers them (docs/retention.md).
        log = ArchivedLog(app.stored_log, Path(load_cli_settings(config).retention.archive_dir))
        result = verify_chain(log, store, anchor, until, batch_size, list(expected))
    broken = result.broken or check_anchors(result, expected)
    if broken is not None:
        click.echo(f"chain broken at position {broken.position}: {broken.reason}", err=True)
        raise SystemExit(EXIT_BROKEN)
    span = f"from position {start} " if start else ""
    click.echo(f"verified {result.verified} events {span}up to position {result.last_position}")
    if result.verified:
        click.echo(f"head {result.last_position}:{result.last_hash.hex()}")
    if chained:
        click.echo(f"chained {chained} events that were not chained yet")
    if result.unchained:
        click.echo(
            f"{result.unchained} events after position {result.last_position} are not chained "
            "yet (run without --no-extend, or keep the chain follower running)"
        )
    for position in sorted(expected):
        click.echo(f"anchor {position} matches")


@audit.command()
@config_option
def head(config: ConfigPaths) -> None:
    """Print the chain's head as POSITION:HASH, to keep outside the database."""
    with audit_store(config, create_tables=False) as (_app, database):
        store = SqlChainStore(database)
        store.check_table()
        link = store.head()
    if link is None:
        raise click.ClickException("the chain is empty: run `scheduler audit verify` first")
    click.echo(f"{link.position}:{link.hash.hex()}")


@audit.command("lock-down")
@click.option("--app-role", help="PostgreSQL role the scheduler processes connect as.")
@click.option("--owner", help="Role to own the event tables (default: the role running this).")
@config_option
def lock_down(app_role: str | None, owner: str | None, config: ConfigPaths) -> None:
    """Make the event store append-only: guard triggers, and on PostgreSQL the role's grants.

    Run it as an administrator, after `scheduler migrate`.
    """
    with audit_store(config, create_tables=True) as (_app, database):
        if app_role and not database.event_tables.roles:
            raise click.ClickException("--app-role needs PostgreSQL: SQLite has no roles")
        created = ensure_append_only(database)
        new_owner = lock_down_role(database, app_role, owner) if app_role else None
    click.echo(f"guards installed: {', '.join(created)}" if created else "guards already in place")
    if new_owner and app_role:
        click.echo(
            f"the event tables and audit_chain now belong to {new_owner}; {app_role} may only "
            "read and append. Start the scheduler as that role with event table creation off "
            "(see docs/audit.md)."
        )
