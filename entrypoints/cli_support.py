"""What every `scheduler` subcommand shares: settings, logging, error messages."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from domain.secrets import mask_text
from entrypoints.config_loading import LoadedConfig
from entrypoints.redaction import redact
from entrypoints.settings import ConfigError, Settings, load_sourced_settings

CLI_APPLICATION_NAME = "scheduler-cli"  # application_name of every CLI connection
CONFIG_HELP = (
    "TOML config file; repeat it to lay files over each other, later ones winning key by key"
    " (default: $SCHEDULER_CONFIG, a colon-separated list, else built-in defaults)."
)
ConfigPaths = tuple[Path, ...]  # --config, in the order given

if TYPE_CHECKING:
    from adapters.sql_store import StoreDatabase
    from application.commands.app import SchedulerApp
    from application.secrets import SecretBox


def load_cli_settings(config: ConfigPaths) -> Settings:
    """Settings from --config or the environment; a config error is a clean CLI error."""
    return load_cli_config(config).model


def load_cli_config(config: ConfigPaths) -> LoadedConfig[Settings]:
    """Settings and where each key came from; a config error is a clean CLI error."""
    try:
        return load_sourced_settings(config, os.environ)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


def unreachable_error(
    action: str, error: Exception, secrets: Iterable[str] = ()
) -> click.ClickException:
    """A CLI error for a server that cannot be reached, with any password masked."""
    # Driver messages can echo the connection string: never print a password.
    message = mask_text(re.sub(r"password=\S+", "password=***", str(error)))
    return click.ClickException(redact(f"{action}: {type(error).__name__}: {message}", secrets))


config_option = click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    multiple=True,
    help=CONFIG_HELP,
)


@contextmanager
def open_store(
    settings: Settings,
    *,
    migrate: bool = False,
    create_tables: bool = True,
    secrets: SecretBox | None = None,
) -> Iterator[tuple[SchedulerApp, StoreDatabase]]:
    """The event store and the read database named by the settings, closed afterwards.

    Within `[database] pool_size` like any process: on PostgreSQL one session connection
    (advisory locks) and a pool of `pool_size - 1`, named `scheduler-cli`. `migrate` also
    brings the read tables up to date; `create_tables=False` runs no DDL on the event store,
    as a locked-down application role may not.
    """
    from entrypoints.bootstrap import build_store  # the commands that need a store pay for it

    try:
        store = build_store(
            settings,
            CLI_APPLICATION_NAME,
            migrate=migrate,
            create_tables=create_tables,
            guard=False,
            announce=False,
            secrets=secrets,
        )
    except Exception as error:
        raise unreachable_error(
            f"cannot open {settings.masked_database_url}", error, settings.connection_secrets
        ) from None
    try:
        yield store.app, store.database
    finally:
        store.close()


def aware_time(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """An ISO time with its zone (a time without one would mean different moments)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no zone: add Z or an offset such as +08:00")
    return moment
