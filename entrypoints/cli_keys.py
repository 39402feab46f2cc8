"""`scheduler keys create|list|revoke`: API keys, from a shell with the database's config."""

from __future__ import annotations

import getpass
import json
import socket
import uuid
from datetime import datetime
from typing import Any

import click
from eventsourcing.utils import get_topic

from application.commands.app import SchedulerApp
from application.keys import parse_duration
from domain.api_key import ApiKey
from domain.context import CommandContext
from domain.errors import DomainError
from domain.namespace import ALL_NAMESPACES, checked_namespaces
from domain.principal import ROLES
from entrypoints.cli_support import ConfigPaths, config_option, load_cli_settings, open_store
from projections.api_keys import read_keys
from projections.ports import Database
from projections.status import now_utc

KEY_TOPICS = [get_topic(ApiKey.Created), get_topic(ApiKey.Revoked)]
POSITION = "SELECT position FROM projection_tracking WHERE projection = 'api_keys'"


def cli_context() -> CommandContext:
    """The actor of a CLI command: whoever holds the database credentials, by OS user."""
    actor = f"cli:{getpass.getuser()}@{socket.gethostname()}"
    return CommandContext(actor=actor, now=now_utc(), correlation_id=uuid.uuid4())


@click.group()
def keys() -> None:
    """API keys: the credentials of the HTTP API (docs/security.md)."""


@keys.command()
@click.option("--name", required=True, help="Unique, never reused; the actor is key:NAME.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the key may do.")
@click.option("--expires-in", default=None, help="e.g. 90d, 12h, 1w2d (default: never).")
@click.option(
    "--namespace",
    "namespaces",
    multiple=True,
    help="A namespace the key may see and act in (repeat it for more; default: all).",
)
@config_option
def create(
    name: str, role: str, expires_in: str | None, namespaces: tuple[str, ...], config: ConfigPaths
) -> None:
    """Issue a key; it is printed once, alone on the last line, and stored only as a hash."""
    with open_store(load_cli_settings(config), migrate=True) as (app, _database):
        try:
            duration = parse_duration(expires_in, "--expires-in") if expires_in else None
            scope = checked_namespaces(namespaces or [ALL_NAMESPACES], "--namespace")
            issued = app.create_api_key(name, role, cli_context(), duration, scope)
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    expiry = f"expires {issued.expires_at.isoformat()}" if issued.expires_at else "no expiry"
    where = "all namespaces" if scope == [ALL_NAMESPACES] else "namespaces " + ", ".join(scope)
    click.echo(f"created API key {name!r} (id {issued.key_id}, role {role}, {where}, {expiry})")
    click.echo("store it now: it is shown this once and cannot be recovered")
    click.echo(issued.secret)


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of a table.")
@config_option
def list_keys(as_json: bool, config: ConfigPaths) -> None:
    """Show every key: id, name, role, status, created, expires, last used (never the key)."""
    with open_store(load_cli_settings(config), migrate=True) as (app, database):
        now = now_utc()
        rows = [row.public(now) for row in read_keys(database)]
        behind = _view_behind(app, database)
    if behind is not None:
        click.echo(
            "note: keys created or revoked since log position"
            f" {behind} are not listed yet: a projector (scheduler up or projector) applies them",
            err=True,
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=_json_default))
        return
    if not rows:
        click.echo("no API keys")
        return
    columns = (
        "id",
        "name",
        "role",
        "namespaces",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
    )
    table = [[_cell(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for cells in table:
        click.echo("  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)).rstrip())


@keys.command()
@click.argument("ref")
@click.option("--reason", default="", help="Why (recorded in the event).")
@config_option
def revoke(ref: str, reason: str, config: ConfigPaths) -> None:
    """Revoke the key REF (its id or name): refused by every API process within 5 s."""
    with open_store(load_cli_settings(config), migrate=True) as (app, _database):
        ctx = cli_context()
        try:
            key_id = app.resolve_api_key_ref(ref)
            app.revoke_api_key(key_id, reason or f"revoked by {ctx.actor}", ctx)
            name = app.get_api_key(key_id).name
        except DomainError as error:
            raise click.ClickException(str(error)) from None
    click.echo(f"revoked API key {name!r} ({key_id})")


def _view_behind(app: SchedulerApp, database: Database) -> int | None:
    """The api_keys view's position when key events after it are not applied yet."""
    row = database.one(POSITION)
    position = int(row["position"]) if row else 0
    later = app.recorder.select_notifications(
        start=position, limit=1, topics=KEY_TOPICS, inclusive_of_start=False
    )
    return position if later else None


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _json_default(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)
