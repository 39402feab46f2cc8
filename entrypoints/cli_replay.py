"""`scheduler replay` and `scheduler events tail`: read history straight from the log."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Sequence
from uuid import UUID

import click
from click.core import ParameterSource
from eventsourcing.persistence import Notification

from application.commands.app import SchedulerApp
from domain.errors import InvalidFieldError, NotFoundError
from domain.ids import parse_uuid
from entrypoints.bootstrap import build_history
from entrypoints.cli_event_query import query as events_query
from entrypoints.cli_support import ConfigPaths, config_option, load_cli_settings, open_store
from entrypoints.event_types import TOPIC_PREFIX, UnknownEventTypeError, topics_named
from entrypoints.log_scan import last_notifications, notifications_between
from projections.event_records import event_record
from projections.history import KINDS

FOLLOW_POLL_SECONDS = 0.5


@click.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("ref")
@click.option("--as-of", "as_of", help="ISO 8601 time with offset: the state as it was then.")
@click.option("--version", "version", type=click.IntRange(min=1), help="The state at a version.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
@config_option
def replay(
    kind: str,
    ref: str,
    as_of: str | None,
    version: int | None,
    as_json: bool,
    config: ConfigPaths,
) -> None:
    """Print the history of a task, run or worker and its state rebuilt from the events.

    REF is a task's number, UUID or name, or a run's or worker's UUID.
    """
    settings = load_cli_settings(config)
    with open_store(settings, migrate=True) as (app, _database):
        # Records as stored, without their log positions; archived runs from the files.
        history = build_history(app, None, settings)
        try:
            events = history.events(_resolve(app, kind, ref), kind)
        except NotFoundError:
            raise click.ClickException(f"no {kind} {ref!r}") from None
        try:
            replayed = history.replay_of(kind, events, as_of, version)
        except InvalidFieldError as error:
            option = "--" + error.field.replace("_", "-")
            raise click.BadParameter(error.message, param_hint=option) from None
        except NotFoundError:
            raise click.ClickException(f"the {kind} did not exist yet at {as_of}") from None
        state = replayed.state
        records = [event_record(e, None) for e in replayed.events]
    if as_json:
        click.echo(json.dumps({"history": records, "state": state}, default=str, indent=2))
        return
    for record in records:
        if record.get("error"):  # stored, but it cannot be decoded: say so and go on
            click.echo(f"v{record['version']:<4} {'?':<32}  {record['type']:<28} {record['error']}")
            continue
        trace = f"  trace {record['traceparent']}" if record.get("traceparent") else ""
        click.echo(
            f"v{record['version']:<4} {record['timestamp'].isoformat()}  {record['type']:<28} "
            f"by {record['actor']}  correlation {record['correlation_id']}{trace}"
        )
    for held in (state or {}).get("quarantine") or []:
        click.echo(f"not applied from version {held['version']}: {held['error']}", err=True)
    click.echo(f"\nstate at version {replayed.version} of {replayed.latest}:")
    click.echo(json.dumps(state, default=str, indent=2))


def _resolve(app: SchedulerApp, kind: str, ref: str) -> UUID:
    if kind != "task":
        key = parse_uuid(ref)
        if key is None:
            raise click.BadParameter(
                f"a {kind} is named by its UUID, not {ref!r}", param_hint="REF"
            )
        return key
    # The log, not a view, knows every number, name and UUID.
    try:
        return app.resolve_task_ref(ref)
    except NotFoundError:
        raise click.ClickException(f"no task {ref!r}") from None


@click.group()
def events() -> None:
    """Read the global event log."""


@events.command()
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events as they come.")
@click.option(
    "--type",
    "types",
    multiple=True,
    help="Only these types, searched in the whole log (e.g. TaskRun.Failed, Task).",
)
@click.option(
    "--last",
    type=click.IntRange(0, 100_000),
    default=20,
    show_default=True,
    help="How many of the newest events (of --type) to print first.",
)
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=None,
    help="Print every event (of --type) after this position instead of the last N.",
)
@config_option
@click.pass_context
def tail(
    ctx: click.Context,
    follow: bool,
    types: tuple[str, ...],
    last: int,
    after: int | None,
    config: ConfigPaths,
) -> None:
    """Print events as JSON lines: the last N (of --type), then, with --follow, every new one."""
    if after is not None and ctx.get_parameter_source("last") is not ParameterSource.DEFAULT:
        raise click.UsageError("--last and --after exclude each other: choose where to start")
    try:
        topics = topics_named(types)
    except UnknownEventTypeError as error:
        raise click.BadParameter(str(error), param_hint="--type") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open_store(load_cli_settings(config)) as (app, _database):
        position = after if after is not None else app.head_position()
        if after is None:
            for notification in last_notifications(app.stored_log, last, topics, position):
                _echo(app, notification)
            if not follow:
                return
        try:
            _print_from(app, position, topics, follow, stop)
        except KeyboardInterrupt:
            return


def _print_from(
    app: SchedulerApp,
    position: int,
    topics: Sequence[str],
    follow: bool,
    stop: threading.Event,
) -> None:
    """Print every matching event after `position`; with `follow`, keep polling until stopped."""
    while True:
        head = app.head_position()
        while page := notifications_between(app.stored_log, position, head, topics):
            for notification in page:
                _echo(app, notification)
            position = page[-1].id
        # Past the head even when nothing matched, so a poll scans only new events.
        position = max(position, head)
        if not follow or stop.wait(FOLLOW_POLL_SECONDS):
            return


def _echo(app: SchedulerApp, notification: Notification) -> None:
    try:
        record = event_record(app.to_domain_event(notification), notification.id)
    except Exception as error:  # an event this code cannot decode is shown, never fatal
        record = {
            "position": notification.id,
            "type": notification.topic.removeprefix(TOPIC_PREFIX),
            "originator_id": str(notification.originator_id),
            "version": notification.originator_version,
            "error": f"cannot decode: {type(error).__name__}: {error}",
        }
    click.echo(json.dumps(record, default=str))


events.add_command(events_query)
