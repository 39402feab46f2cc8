"""`scheduler namespaces create|list|set-limits`: namespaces, from a shell with the config."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from domain.errors import DomainError
from entrypoints.cli_keys import cli_context
from entrypoints.cli_support import ConfigPaths, config_option, load_cli_settings, open_store
from projections.namespaces import read_namespaces

UNLIMITED = "unlimited"


def _limit(value: str | None, option: str) -> int | str | None:
    """A limit option: a whole number, `unlimited`, or absent (no change)."""
    if value is None:
        return "keep"
    if value == UNLIMITED:
        return None
    if not value.isdigit():
        raise click.BadParameter(
            f"{value!r} is not a whole number or {UNLIMITED!r}", param_hint=option
        )
    return int(value)


def _limits(max_concurrent_runs: str | None, trigger_rate: str | None) -> dict[str, Any]:
    chosen = {
        "max_concurrent_runs": _limit(max_concurrent_runs, "--max-concurrent-runs"),
        "trigger_rate_per_minute": _limit(trigger_rate, "--trigger-rate-per-minute"),
    }
    return {field: value for field, value in chosen.items() if value != "keep"}


@click.group()
def namespaces() -> None:
    """Namespaces: tasks, runs, workers and keys belong to one (docs/scaling.md)."""


LIMIT_OPTIONS = (
    click.option(
        "--max-concurrent-runs",
        default=None,
        help=f"Runs assigned or running at once (a number, or {UNLIMITED}).",
    ),
    click.option(
        "--trigger-rate-per-minute",
        default=None,
        help=f"Runs triggered per minute per API process (a number, or {UNLIMITED}).",
    ),
)


def _with_limits(command: Any) -> Any:
    for option in reversed(LIMIT_OPTIONS):
        command = option(command)
    return command


@namespaces.command()
@click.argument("name")
@_with_limits
@config_option
def create(
    name: str,
    max_concurrent_runs: str | None,
    trigger_rate_per_minute: str | None,
    config: ConfigPaths,
) -> None:
    """Create the namespace NAME, optionally with limits."""
    limits = _limits(max_concurrent_runs, trigger_rate_per_minute)
    with open_store(load_cli_settings(config), migrate=True) as (app, _database):
        try:
            app.create_namespace(name, limits, cli_context())
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"created namespace {name!r}")


@namespaces.command("set-limits")
@click.argument("name")
@_with_limits
@config_option
def set_limits(
    name: str,
    max_concurrent_runs: str | None,
    trigger_rate_per_minute: str | None,
    config: ConfigPaths,
) -> None:
    """Change the limits of namespace NAME (only the options given change)."""
    changes = _limits(max_concurrent_runs, trigger_rate_per_minute)
    if not changes:
        raise click.UsageError("give --max-concurrent-runs or --trigger-rate-per-minute")
    with open_store(load_cli_settings(config), migrate=True) as (app, _database):
        try:
            result = app.set_namespace_limits(name, changes, cli_context())
            record = app.get_namespace(name)
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    limits = record.limits() if record is not None else changes
    shown = ", ".join(f"{k} {UNLIMITED if v is None else v}" for k, v in limits.items())
    click.echo(f"namespace {name!r}: {shown}" + ("" if result.position else " (unchanged)"))


@namespaces.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@config_option
def list_namespaces(as_json: bool, config: ConfigPaths) -> None:
    """Show every namespace and its limits (as the projector has applied them)."""
    with open_store(load_cli_settings(config), migrate=True) as (_app, database):
        rows = read_namespaces(database)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=_json_default))
        return
    for row in rows:
        limits = [
            f"max_concurrent_runs={_shown(row['max_concurrent_runs'])}",
            f"trigger_rate_per_minute={_shown(row['trigger_rate_per_minute'])}",
        ]
        click.echo(f"{row['name']}  " + "  ".join(limits))


def _shown(value: int | None) -> str:
    return UNLIMITED if value is None else str(value)


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
