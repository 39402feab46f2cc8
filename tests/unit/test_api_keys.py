"""API keys: issued once, stored as a hash, named uniquely, revoked as events with the actor;
the key directory an API process checks them against."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.key_directory import MAX_STALE_SECONDS, KeyDirectory, KeysUnavailableError
from adapters.migrations import apply_migrations
from adapters.sqlite.database import SqliteDatabase
from application.commands.app import SchedulerApp
from application.keys import KEY_PREFIX, key_digest, parse_duration
from application.ports import FakeClock
from domain.api_key import ApiKey
from domain.api_key_name import ApiKeyName
from domain.context import CommandContext
from domain.errors import ApiKeyNameTakenError, IllegalTransitionError, InvalidFieldError
from projections.api_keys import ApiKeysProjection, read_keys


def admin_ctx(clock: FakeClock) -> CommandContext:
    return CommandContext(actor="key:root", now=clock.now(), correlation_id=uuid.uuid4())


def test_a_key_is_high_entropy_and_only_its_hash_is_in_the_log(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    issued = app.create_api_key("ci", "operator", ctx)

    assert issued.secret.startswith(KEY_PREFIX) and len(issued.secret) >= len(KEY_PREFIX) + 43
    stored = b"".join(n.state for n in app.recorder.select_notifications(start=1, limit=10))
    assert issued.secret.encode() not in stored
    assert key_digest(issued.secret).encode() in stored
    assert app.create_api_key("ci2", "operator", ctx).secret != issued.secret


def test_creating_and_revoking_a_key_are_events_with_their_actor(
    app: SchedulerApp, clock: FakeClock
) -> None:
    issued = app.create_api_key("ci", "viewer", admin_ctx(clock), timedelta(days=30))
    app.revoke_api_key(issued.key_id, "rotated", admin_ctx(clock))

    events = app.aggregate_events(issued.key_id)
    assert [type(e) for e in events] == [ApiKey.Created, ApiKey.Revoked]
    assert {e.metadata["actor"] for e in events} == {"key:root"}
    assert events[0].expires_at == clock.now() + timedelta(days=30)
    assert app.aggregate_events(ApiKeyName.id_for("ci"))[0].key_id == issued.key_id


def test_a_key_name_is_never_reused_even_after_revocation(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    issued = app.create_api_key("deploy", "editor", ctx)
    app.revoke_api_key(issued.key_id, "", ctx)

    with pytest.raises(ApiKeyNameTakenError):
        app.create_api_key("deploy", "editor", ctx)


def test_revoking_twice_is_refused(app: SchedulerApp, ctx: CommandContext) -> None:
    issued = app.create_api_key("once", "viewer", ctx)
    app.revoke_api_key(issued.key_id, "", ctx)

    with pytest.raises(IllegalTransitionError, match="revoked"):
        app.revoke_api_key(issued.key_id, "", ctx)


def test_a_key_is_found_by_id_or_by_name(app: SchedulerApp, ctx: CommandContext) -> None:
    issued = app.create_api_key("lookup", "viewer", ctx)

    assert app.resolve_api_key_ref("lookup") == issued.key_id
    assert app.resolve_api_key_ref(str(issued.key_id)) == issued.key_id


@pytest.mark.parametrize(
    ("name", "role", "field"),
    [("has space", "viewer", "name"), ("x" * 65, "viewer", "name"), ("ok", "root", "role")],
)
def test_a_bad_name_or_role_is_refused_naming_the_field(
    app: SchedulerApp, ctx: CommandContext, name: str, role: str, field: str
) -> None:
    with pytest.raises(InvalidFieldError) as caught:
        app.create_api_key(name, role, ctx)

    assert caught.value.field == field


@pytest.mark.parametrize(
    ("text", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("1w2d", 9 * 86400), ("30m", 1800)]
)
def test_durations_are_read_as_written(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "5 days", "0s", "99999d", "-1d"])
def test_a_bad_duration_is_refused(text: str) -> None:
    with pytest.raises(InvalidFieldError, match="expires_in"):
        parse_duration(text)


class Monotonic:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "keys.db")
    apply_migrations(db, announce=False)
    yield db
    db.close()


def project(app: SchedulerApp, database: SqliteDatabase) -> None:
    projection = ApiKeysProjection()
    with database.transaction() as tx:
        for position, event in app.read_log(0, 1_000):
            projection.process(event, position, tx)


def test_the_directory_finds_keys_and_sees_revocations_at_its_next_refresh(
    app: SchedulerApp, ctx: CommandContext, database: SqliteDatabase
) -> None:
    issued = app.create_api_key("svc", "operator", ctx)
    project(app, database)
    clock = Monotonic()
    directory = KeyDirectory(database, monotonic=clock)
    directory.refresh()

    found = directory.find(issued.secret)
    assert found is not None and (found.name, found.role) == ("svc", "operator")
    assert directory.find(issued.secret + "x") is None
    app.revoke_api_key(issued.key_id, "", ctx)
    project(app, database)
    assert not directory.due()
    clock.now += 2.0
    assert directory.due()
    directory.refresh()
    row = directory.find(issued.secret)
    assert row is not None and row.revoked_at is not None


def test_the_directory_refuses_keys_when_the_table_went_unread_too_long(
    database: SqliteDatabase,
) -> None:
    clock = Monotonic()
    directory = KeyDirectory(database, monotonic=clock)
    with pytest.raises(KeysUnavailableError):
        directory.find("sk_anything")
    directory.refresh()
    database.close()
    database.path.unlink()
    database.path.mkdir()  # the file can no longer be opened: every read fails
    clock.now += MAX_STALE_SECONDS + 0.1
    directory.refresh()

    with pytest.raises(KeysUnavailableError):
        directory.find("sk_anything")


def test_last_use_is_written_once_a_minute_at_most(
    app: SchedulerApp, ctx: CommandContext, database: SqliteDatabase, clock: FakeClock
) -> None:
    issued = app.create_api_key("busy", "viewer", ctx)
    project(app, database)
    mono = Monotonic()
    directory = KeyDirectory(database, monotonic=mono)
    first = clock.now()
    directory.note_used(issued.key_id, first)
    directory.refresh()
    assert read_keys(database)[0].last_used_at == first

    clock.advance(30)
    directory.note_used(issued.key_id, clock.now())
    mono.now += 30
    directory.refresh()
    assert read_keys(database)[0].last_used_at == first  # not yet: within the minute
    mono.now += 31
    directory.refresh()
    assert read_keys(database)[0].last_used_at == clock.now()
