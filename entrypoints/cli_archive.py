"""`scheduler archive export|verify|list`: closed runs' events in chained files, checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from adapters.audit_chain import MissingChainTableError, SqlChainStore
from adapters.database_errors import STORE_ERRORS
from application.archive.export import ArchiveError
from application.archive.files import ArchiveFormatError, manifest_summary, read_manifests
from application.archive.service import retention_cutoff
from application.archive.verify import verify_archives
from entrypoints.bootstrap import build_archiving
from entrypoints.cli_keys import cli_context
from entrypoints.cli_support import (
    ConfigPaths,
    aware_time,
    config_option,
    load_cli_settings,
    open_store,
    unreachable_error,
)

EXIT_BROKEN = 3  # as `audit verify`: 1 is "could not check", 2 a usage error
dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="The archive directory (default: [retention] archive_dir).",
)


@click.group()
def archive() -> None:
    """Archive files of closed runs' events, chained and checked against the audit chain."""


@archive.command()
@click.option(
    "--before", callback=aware_time, help="Archive runs that ended before this ISO time with zone."
)
@dir_option
@click.option(
    "--detach", is_flag=True, help="Remove the archived events from the live store (PostgreSQL)."
)
@click.option(
    "--keep-detached",
    is_flag=True,
    help="With --detach: keep the detached partitions as tables named *_archived.",
)
@config_option
def export(
    before: datetime | None,
    directory: Path | None,
    detach: bool,
    keep_detached: bool,
    config: ConfigPaths,
) -> None:
    """Apply the retention window and write the runs that ended before it to the next file.

    Default --before: now minus [retention] window_hours. With --detach (PostgreSQL, as the
    event table's owner) the archived events then leave the live store (docs/retention.md).
    """
    settings = load_cli_settings(config)
    window = settings.retention.window_hours
    ctx = cli_context()
    cutoff = before or retention_cutoff(ctx.now, window)
    if cutoff > ctx.now:
        raise click.BadParameter("must not be in the future", param_hint="--before")
    with open_store(settings, migrate=True) as (app, database):
        archiving = build_archiving(settings, app, database)
        if directory is not None:
            archiving = replace(archiving, directory=directory)
        try:
            hours = (ctx.now - cutoff).total_seconds() / 3600
            outcome = archiving.export(cutoff, hours, ctx, detach, keep_detached)
        except (ArchiveError, ArchiveFormatError) as error:
            raise click.ClickException(str(error)) from None
        except STORE_ERRORS as error:
            raise unreachable_error("export failed", error) from None
    click.echo(f"retention applied: runs that ended before {cutoff.isoformat()} leave the views")
    if outcome.file is None:
        click.echo(f"nothing to archive below position {outcome.horizon}")
        return
    file = outcome.file
    click.echo(
        f"archived {file['events']} events of {file['aggregates']} runs below position "
        f"{outcome.horizon} to {archiving.directory / file['file']} ({file['bytes']} bytes)"
    )
    click.echo(f"manifest sha256 {file['sha256']}")
    if outcome.removal is not None:
        removal = outcome.removal
        click.echo(
            f"removed {removal.removed} events from the live store, kept {removal.kept} of open "
            f"aggregates; detached {', '.join(removal.partitions) or 'nothing'}"
        )


@archive.command()
@dir_option
@config_option
def verify(directory: Path | None, config: ConfigPaths) -> None:
    """Check the files' chain, their hashes, and every event against the audit chain.

    Exit status: 0 intact, 3 a file fails (named on stderr), 1 could not check.
    """
    settings = load_cli_settings(config)
    where = directory or Path(settings.retention.archive_dir)
    with open_store(settings, create_tables=False) as (app, database):
        try:
            retention = app.retention()
            store = SqlChainStore(database)
            store.check_table()
            result = verify_archives(where, store, retention.last_sha256 if retention else None)
        except MissingChainTableError as error:
            raise click.ClickException(str(error)) from None
        except STORE_ERRORS as error:
            raise unreachable_error("verify failed", error) from None
    for problem in result.problems:
        click.echo(f"{where / problem.file}: {problem.reason}", err=True)
    if not result.intact:
        raise SystemExit(EXIT_BROKEN)
    click.echo(f"verified {result.files} archive files, {result.events} events, in {where}")


@archive.command("list")
@dir_option
@config_option
def list_files(directory: Path | None, config: ConfigPaths) -> None:
    """The archive files: number, positions, counts, bytes and manifest hash."""
    where = directory or Path(load_cli_settings(config).retention.archive_dir)
    try:
        manifests = read_manifests(where)
    except ArchiveFormatError as error:
        raise click.ClickException(str(error)) from None
    for manifest in manifests:
        s = manifest_summary(manifest)
        click.echo(
            f"{s['file']}  below {s['horizon']}  positions {s['first_position']}-"
            f"{s['last_position']}  {s['events']} events  {s['aggregates']} runs  "
            f"{s['bytes']} bytes  sha256 {s['sha256']}"
        )
