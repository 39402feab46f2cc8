"""The `scheduler` command line."""

from __future__ import annotations

import importlib
import signal

import click

from entrypoints.cli_lazy import LazyGroup
from entrypoints.cli_support import (
    ConfigPaths,
    config_option,
    load_cli_config,
    load_cli_settings,
    unreachable_error,
)
from entrypoints.logging_setup import configure_logging

# The groups of administrative commands, imported only when run: a process's start-up (and
# `--help` of one command) does not pay for every command's imports.
SUBCOMMANDS = {
    "archive": "entrypoints.cli_archive:archive",
    "audit": "entrypoints.cli_audit:audit",
    "backfill": "entrypoints.cli_backfill:backfill",
    "config": "entrypoints.cli_config:config",
    "events": "entrypoints.cli_replay:events",
    "keys": "entrypoints.cli_keys:keys",
    "namespaces": "entrypoints.cli_namespaces:namespaces",
    "projections": "entrypoints.cli_projections:projections",
    "quarantine": "entrypoints.cli_quarantine:quarantine",
    "replay": "entrypoints.cli_replay:replay",
    "secrets": "entrypoints.cli_secrets:secrets",
}


PROCESS_MODULES = {
    "up": "entrypoints.processes",
    "api": "entrypoints.processes",
    "dispatcher": "entrypoints.process_dispatcher",
    "projector": "entrypoints.process_projector",
    "worker": "entrypoints.process_worker",
}


@click.group(
    cls=LazyGroup,
    lazy_subcommands=SUBCOMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
def main() -> None:
    """An event-sourced distributed task scheduler.

    Every change is an event in the log; the API reads views built from it.
    Configuration: --config FILE (repeatable, later files win key by key) or
    SCHEDULER_CONFIG (a colon-separated list), overridden by SCHEDULER_<SECTION>__<KEY>
    environment variables. SIGHUP or a changed file reloads what may change while running.
    """


# Commands import their process modules lazily so that `--help` and config errors are fast.
@main.command()
@config_option
def up(config: ConfigPaths) -> None:
    """Run everything in one process: API, projections, dispatcher and a local worker."""
    _run_process(config, "up")


@main.command()
@config_option
def api(config: ConfigPaths) -> None:
    """Run the HTTP API alone (projections and dispatchers run elsewhere)."""
    _run_process(config, "api")


def _stop_while_starting(signum: int, frame: object) -> None:
    # A SIGTERM before the process is up (an orchestrator's quick stop, a test's) ends it as
    # cleanly as one after: unwinding what start-up opened, with exit status 0.
    raise SystemExit(0)


def _run_process(config: ConfigPaths, name: str) -> None:
    # Until the process installs its own handlers: a SIGHUP must not kill it, and a SIGTERM
    # or SIGINT stops it cleanly instead of by the default action (status -15).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop_while_starting)
    from entrypoints.live_config import LiveConfig
    from entrypoints.process_support import StartupError

    # Each main imports only what its process needs: a worker no database driver, a
    # dispatcher or projector no web framework.
    module = importlib.import_module(PROCESS_MODULES[name])
    run = getattr(module, f"run_{name}")
    live = LiveConfig.loaded(load_cli_config(config))
    settings = live.settings
    configure_logging(settings, name)
    try:
        run(live, config)  # config: re-read on a reload
    except (StartupError, OSError) as error:
        raise unreachable_error("cannot start", error, settings.connection_secrets) from None


@main.command()
@config_option
def dispatcher(config: ConfigPaths) -> None:
    """Run a dispatcher: assigns runs, records worker reports, recovers lost workers."""
    _run_process(config, "dispatcher")


@main.command()
@config_option
def worker(config: ConfigPaths) -> None:
    """Run a worker: executes runs delivered over the bus (needs no database)."""
    _run_process(config, "worker")


@main.command()
@config_option
def projector(config: ConfigPaths) -> None:
    """Run the projections that keep the read tables up to date."""
    _run_process(config, "projector")


@main.command()
@config_option
def migrate(config: ConfigPaths) -> None:
    """Create or upgrade the read tables and the event store's tables (idempotent).

    Run it as the database owner: it also installs the append-only guards on the event
    tables, which a locked-down application role cannot create (docs/audit.md).
    """
    from adapters.event_store_role import ensure_append_only
    from adapters.migrations import apply_migrations
    from entrypoints.bootstrap import build_store, partition_event_table
    from entrypoints.cli_support import CLI_APPLICATION_NAME

    settings = load_cli_settings(config)
    try:
        # The owner creates the event store's tables and its guards, whatever
        # create_event_tables says; the migrations run once the tables exist.
        store = build_store(
            settings, CLI_APPLICATION_NAME, migrate=False, create_tables=True, guard=False
        )
        try:
            applied = apply_migrations(store.database)
            if settings.retention.enabled:
                for change in partition_event_table(
                    store.database, settings.retention.partition_events
                ):
                    click.echo(change)
            ensure_append_only(store.database)
        finally:
            store.close()
    except Exception as error:
        raise unreachable_error(
            f"cannot migrate {settings.masked_database_url}", error, settings.connection_secrets
        ) from None
    click.echo(f"applied: {', '.join(applied)}" if applied else "read tables are up to date")
