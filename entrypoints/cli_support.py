"""What every `scheduler` subcommand shares: settings, logging, error messages."""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from adapters.migrations import apply_migrations
from application.scheduler_app import SchedulerApp
from entrypoints.bootstrap import build_database, schema_lock
from entrypoints.redaction import redact, redact_handlers
from entrypoints.settings import ConfigError, Settings, load_settings
from projections.ports import Database

CONFIG_HELP = "TOML config file (default: $SCHEDULER_CONFIG, else built-in defaults)."


def load_cli_settings(config: Path | None) -> Settings:
    """Settings from --config or the environment; a config error is a clean CLI error."""
    try:
        return load_settings(config, os.environ)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def configure_logging(settings: Settings) -> None:
    """Log to stderr at the configured level, never printing a database or bus password."""
    logging.basicConfig(
        level=settings.observability.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    redact_handlers([""], settings.connection_secrets)


def unreachable_error(
    action: str, error: Exception, secrets: Iterable[str] = ()
) -> click.ClickException:
    """A CLI error for a server that cannot be reached, with any password masked."""
    # Driver messages can echo the connection string: never print a password.
    message = re.sub(r"password=\S+", "password=***", str(error))
    return click.ClickException(redact(f"{action}: {type(error).__name__}: {message}", secrets))


config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help=CONFIG_HELP,
)


@contextmanager
def open_store(
    settings: Settings, *, migrate: bool = False, create_tables: bool = True
) -> Iterator[tuple[SchedulerApp, Database]]:
    """The event store and the read database named by the settings, closed afterwards.

    `migrate` also brings the read tables up to date; `create_tables=False` runs no DDL on
    the event store, as a locked-down application role may not.
    """
    env = {**settings.eventstore_env(), "CREATE_TABLE": "y" if create_tables else "n"}
    try:
        database = build_database(settings)
        with schema_lock(settings):
            if migrate:
                apply_migrations(database, announce=False)
            app = SchedulerApp(env=env)
    except Exception as error:
        raise unreachable_error(
            f"cannot open {settings.masked_database_url}", error, settings.connection_secrets
        ) from None
    try:
        yield app, database
    finally:
        app.close()
        database.close()
