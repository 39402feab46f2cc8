"""The audit chain names the first edited, deleted or reordered event; the store is append-only."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from adapters.audit_chain import SqlChainStore
from adapters.event_store_role import LockDownError, ensure_append_only, lock_down_role
from adapters.migrations import apply_migrations
from application.audit import (
    AuditChainFollower,
    ChainLink,
    Verification,
    check_anchors,
    verify_chain,
)
from application.commands.app import SchedulerApp
from application.ports import Wakeup
from domain.context import CommandContext
from domain.task_spec import validate_spec
from entrypoints.bootstrap import build_database
from entrypoints.settings import load_settings
from projections.ports import Database
from tests.servers import admin_database_url, fresh_postgres_database, server_missing

EVENTS = {"postgres": ("scheduler_events", "notification_id"), "sqlite": ("stored_events", "rowid")}
REJECTED = (psycopg.Error, sqlite3.Error)


@dataclass
class Store:
    """The event store and the database holding the chain, without any process threads."""

    app: SchedulerApp
    database: Database


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated store on SQLite or PostgreSQL (lighter than a wired process)."""
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": database_url})
    database = build_database(settings)
    apply_migrations(database, announce=False)
    app = SchedulerApp(env=settings.eventstore_env())
    try:
        yield Store(app, database)
    finally:
        app.close()
        database.close()


def create_tasks(store: Store, count: int) -> int:
    """Save `count` tasks (two events each); returns the log head."""
    ctx = CommandContext("auditor", datetime.now(UTC), uuid.uuid4())
    for _ in range(count):
        spec = validate_spec({"name": f"t-{uuid.uuid4().hex[:8]}", "command": "true"})
        store.app.create_task(spec, ctx)
    return store.app.head_position()


def chain(store: Store, batch_size: int = 4) -> int:
    """Chain every event not chained yet."""
    links = SqlChainStore(store.database)
    return AuditChainFollower(store.app.recorder, links, batch_size).catch_up()


def verify(store: Store, batch_size: int = 5) -> Verification:
    """Recompute the whole chain (small batches, so the walk crosses batch edges)."""
    links = SqlChainStore(store.database)
    return verify_chain(store.app.recorder, links, batch_size=batch_size)


class Attacker:
    """Someone with the table owner's rights, who first switches the guards off."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.table, self.position = EVENTS[database.dialect]
        with database.transaction() as tx:
            if database.dialect == "postgres":
                for table in (self.table, "audit_chain"):
                    tx.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
                return
            triggers = tx.query(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name IN ('stored_events', 'audit_chain')"
            )
            for row in triggers:  # SQLite cannot disable a trigger, only drop it
                tx.execute(f"DROP TRIGGER {row['name']}")

    def state(self, position: int) -> bytes:
        row = self.database.one(
            f"SELECT state FROM {self.table} WHERE {self.position} = %(p)s", {"p": position}
        )
        assert row is not None
        return bytes(row["state"])

    def set_state(self, position: int, state: bytes) -> None:
        with self.database.transaction() as tx:
            tx.execute(
                f"UPDATE {self.table} SET state = %(s)s WHERE {self.position} = %(p)s",
                {"s": state, "p": position},
            )

    def delete(self, position: int, with_link: bool = False) -> None:
        with self.database.transaction() as tx:
            tx.execute(f"DELETE FROM {self.table} WHERE {self.position} = %(p)s", {"p": position})
            if with_link:
                tx.execute("DELETE FROM audit_chain WHERE position = %(p)s", {"p": position})

    def swap_positions(self, first: int, second: int) -> None:
        # Through a free number: the position is unique at every step.
        with self.database.transaction() as tx:
            for old, new in ((first, -1), (second, first), (-1, second)):
                tx.execute(
                    f"UPDATE {self.table} SET {self.position} = %(new)s "
                    f"WHERE {self.position} = %(old)s",
                    {"old": old, "new": new},
                )


@pytest.fixture
def chained(store: Store) -> Iterator[Store]:
    """A log of 16 events, all chained, with the append-only guards installed."""
    create_tasks(store, 8)
    chain(store)
    ensure_append_only(store.database)
    yield store


def test_an_intact_log_verifies_across_batches_and_gaps(store: Store) -> None:
    create_tasks(store, 5)
    if store.database.dialect == "postgres":
        # A rolled-back save leaves a hole in the notification ids; holes are normal.
        store.database.query("SELECT nextval('scheduler_events_notification_id_seq')")
    head = create_tasks(store, 5)
    assert chain(store) == 20
    assert chain(store) == 0, "a second follower finds nothing left to chain"
    result = verify(store)
    assert result.broken is None
    assert (result.verified, result.last_position, result.unchained) == (20, head, 0)


def test_events_not_chained_yet_are_counted_then_chained(store: Store) -> None:
    create_tasks(store, 3)
    chain(store)
    head = create_tasks(store, 2)
    before = verify(store)
    assert (before.broken, before.verified, before.unchained) == (None, 6, 4)
    assert chain(store) == 4
    after = verify(store)
    assert (after.broken, after.verified, after.last_position) == (None, 10, head)


def test_a_range_verifies_from_the_link_before_it(chained: Store) -> None:
    links = SqlChainStore(chained.database)
    result = verify_chain(chained.app.recorder, links, links.last_before(5), until=9)
    assert (result.broken, result.verified, result.last_position) == (None, 5, 9)


def test_the_guards_reject_updates_and_deletes_even_from_the_owner(chained: Store) -> None:
    table, position = EVENTS[chained.database.dialect]
    attempts = [
        f"UPDATE {table} SET state = state WHERE {position} = 3",
        f"DELETE FROM {table} WHERE {position} = 3",
        f"DELETE FROM {table}",
        "UPDATE audit_chain SET hash = hash WHERE position = 3",
        "DELETE FROM audit_chain",
    ]
    if chained.database.dialect == "postgres":
        attempts += [f"TRUNCATE {table}", "TRUNCATE audit_chain"]
    for sql in attempts:
        with pytest.raises(REJECTED, match="append-only"), chained.database.transaction() as tx:
            tx.execute(sql)
    head = create_tasks(chained, 1)  # appending still works
    assert chain(chained) == 2 and verify(chained).last_position == head


def test_an_edited_event_is_named_at_its_position(chained: Store) -> None:
    attacker = Attacker(chained.database)
    attacker.set_state(7, attacker.state(7).replace(b"true", b"evil"))
    broken = verify(chained).broken
    assert broken is not None and broken.position == 7
    assert "differs from the one chained" in broken.reason


def test_a_deleted_event_is_named_at_its_position(chained: Store) -> None:
    Attacker(chained.database).delete(6)
    broken = verify(chained).broken
    assert broken is not None and broken.position == 6 and "missing" in broken.reason


def test_an_event_deleted_with_its_chain_link_is_still_named(chained: Store) -> None:
    Attacker(chained.database).delete(11, with_link=True)
    broken = verify(chained).broken
    assert broken is not None and broken.position == 11
    assert "event and its chain link are missing" in broken.reason


def test_a_reordered_pair_is_named_at_the_first_of_the_two(chained: Store) -> None:
    attacker = Attacker(chained.database)
    fourth, ninth = attacker.state(4), attacker.state(9)
    attacker.set_state(4, ninth)
    attacker.set_state(9, fourth)
    broken = verify(chained).broken
    assert broken is not None and broken.position == 4


def test_events_that_swapped_positions_are_reported_as_reordered(chained: Store) -> None:
    Attacker(chained.database).swap_positions(5, 12)
    broken = verify(chained).broken
    assert broken is not None and broken.position == 5
    assert broken.reason == "reordered: this is the event chained at position 12"


def test_a_deleted_tail_passes_alone_but_not_against_an_exported_head(chained: Store) -> None:
    anchor = verify(chained)
    exported = {anchor.last_position: anchor.last_hash}
    Attacker(chained.database).delete(anchor.last_position, with_link=True)
    links = SqlChainStore(chained.database)
    result = verify_chain(chained.app.recorder, links, checkpoints=list(exported))
    assert result.broken is None, "a tail cut with its links is consistent on its own"
    broken = check_anchors(result, exported)
    assert broken is not None and broken.position == anchor.last_position


@pytest.fixture
def locked_down() -> Iterator[tuple[str, str]]:
    """A chained PostgreSQL store locked down for a new role: (admin URL, role URL)."""
    role = f"scheduler_app_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(admin_database_url(), autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE ROLE "{role}" LOGIN')
    except psycopg.OperationalError as error:
        server_missing("PostgreSQL", error)
    try:
        with fresh_postgres_database() as url:
            settings = load_settings(None, {"SCHEDULER_DATABASE__URL": url})
            database = build_database(settings)
            apply_migrations(database, announce=False)
            with SchedulerApp(env=settings.eventstore_env()) as app:  # tables owned by admin
                store = Store(app, database)
                create_tasks(store, 2)
                chain(store)
            with database.transaction() as tx:  # as usual, it may create its read tables
                tx.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
            lock_down_role(database, role)
            database.close()
            parts = urlsplit(url)
            port = f":{parts.port}" if parts.port else ""
            yield url, urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}{port}"))
    finally:  # after the database is gone, the role owns and holds nothing
        with psycopg.connect(admin_database_url(), autocommit=True) as admin:
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_the_application_role_can_append_but_not_change_events(
    locked_down: tuple[str, str],
) -> None:
    _admin_url, role_url = locked_down
    settings = load_settings(None, {"SCHEDULER_DATABASE__URL": role_url})
    database = build_database(settings)
    # The role may not run DDL any more: the tables exist, so it starts without creating them.
    with SchedulerApp(env={**settings.eventstore_env(), "CREATE_TABLE": "n"}) as app:
        store = Store(app, database)
        assert ensure_append_only(database) == [], "a start-up check needs no ownership"
        head = create_tasks(store, 1)
        assert chain(store) == 2
        assert verify(store).last_position == head
    database.close()
    attempts = [
        "UPDATE scheduler_events SET state = state",
        "DELETE FROM scheduler_events",
        "TRUNCATE scheduler_events",
        "ALTER TABLE scheduler_events DISABLE TRIGGER USER",
        "DROP TRIGGER scheduler_events_append_only ON scheduler_events",
        "UPDATE scheduler_snapshots SET state = state",
        "UPDATE audit_chain SET hash = hash",
        "DELETE FROM audit_chain",
        "CREATE OR REPLACE FUNCTION scheduler_reject_change() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
    ]
    with psycopg.connect(role_url, autocommit=True) as connection:
        for sql in attempts:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                connection.execute(sql)


def test_lock_down_refuses_a_role_that_could_undo_it(store: Store) -> None:
    if store.database.dialect == "sqlite":
        with pytest.raises(LockDownError, match="only on PostgreSQL"):
            lock_down_role(store.database, "anyone")
        return
    with pytest.raises(LockDownError, match="superuser"):
        lock_down_role(store.database, "postgres", owner="postgres")


def test_the_follower_chains_new_events_when_woken(store: Store) -> None:
    links = SqlChainStore(store.database)
    follower = AuditChainFollower(store.app.recorder, links, batch_size=3)
    stop, wakeup = threading.Event(), Wakeup()
    thread = threading.Thread(target=follower.run_forever, args=(stop, wakeup, 5.0))
    thread.start()
    try:
        head = create_tasks(store, 4)
        wakeup.ring()
        deadline = time.monotonic() + 5
        while (links.head() or ChainLink(0, 0, b"", b"")).position < head:
            assert time.monotonic() < deadline, "the follower did not chain the new events"
            time.sleep(0.02)
    finally:
        stop.set()
        wakeup.ring()
        thread.join(5)
    assert verify(store).verified == head
