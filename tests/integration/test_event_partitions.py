"""scheduler_events partitioned by position on PostgreSQL: conflicts, guards, and detaching."""

from __future__ import annotations

import gzip
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent

from adapters.audit_chain import SqlChainStore
from adapters.postgres.event_partitions import PostgresLiveStore
from application.archive.export import ArchiveError
from application.archive.merged_log import ArchivedLog
from application.archive.verify import verify_archives
from application.audit import verify_chain
from domain.context import CommandContext
from domain.task_run import TaskRun
from entrypoints.bootstrap import Container, build_archiving, build_container
from entrypoints.cli import main
from entrypoints.settings import Settings, load_settings
from tests.servers import fresh_postgres_database

PARTITION = 1000
KIND_OF_EVENTS = "SELECT relkind FROM pg_class WHERE relname = 'scheduler_events'"
WORKER = uuid.uuid4()


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    with fresh_postgres_database() as url:
        yield load_settings(
            None,
            {
                "SCHEDULER_DATABASE__URL": url,
                "SCHEDULER_RETENTION__ENABLED": "true",
                "SCHEDULER_RETENTION__PARTITION_EVENTS": str(PARTITION),
                "SCHEDULER_RETENTION__ARCHIVE_DIR": str(tmp_path / "archive"),
            },
        )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    built = build_container(settings)
    try:
        yield built
    finally:
        built.close()


def context(now: datetime) -> CommandContext:
    return CommandContext(actor="test", now=now, correlation_id=uuid.uuid4())


def requested(ctx: CommandContext) -> TaskRun:
    task = {"name": "t", "command": "true", "executor": "shell", "priority": "normal"}
    return TaskRun.request(
        uuid.uuid4(), task_id=uuid.uuid4(), task_version=1, task=task, trigger="manual", ctx=ctx
    )


def finished_runs(container: Container, count: int, ctx: CommandContext) -> list[uuid.UUID]:
    runs = []
    for _ in range(count):
        run = requested(ctx)
        attempt = run.assign(WORKER, ctx)
        run.record_started(attempt, WORKER, 1, ctx)
        run.record_succeeded(attempt, 0, 0.1, "ok", ctx)
        runs.append(run)
    container.app.save(*runs)
    return [run.id for run in runs]


def jump_to(settings: Settings, position: int) -> None:
    """Move the id sequence on, so the next event lands in a later partition."""
    with psycopg.connect(settings.database.url, autocommit=True) as connection:
        connection.execute("SELECT setval('scheduler_events_notification_id_seq', %s)", [position])


def sql(settings: Settings, statement: str) -> list[tuple[object, ...]]:
    with psycopg.connect(settings.database.url, autocommit=True) as connection:
        return list(connection.execute(statement).fetchall())


def catch_up(container: Container) -> None:
    for runner in container.runners:
        runner.catch_up()


def test_the_event_table_is_partitioned_with_spares_ahead_and_a_default(
    container: Container, settings: Settings
) -> None:
    kinds = sql(settings, "SELECT relkind FROM pg_class WHERE relname = 'scheduler_events'")
    assert kinds == [(b"p",)] or kinds == [("p",)]
    names = {row["name"] for row in PostgresLiveStore(container.database, PARTITION).partitions()}  # type: ignore[arg-type]
    assert {"scheduler_events_p0", "scheduler_events_p1000", "scheduler_events_p2000"} <= names


def test_a_version_saved_in_another_partition_still_conflicts(
    container: Container, settings: Settings
) -> None:
    originator = uuid.uuid4()
    event = StoredEvent(originator, 1, "scheduler:Test", b"{}")
    container.app.recorder.insert_events([event])
    jump_to(settings, PARTITION + 5)
    with pytest.raises(IntegrityError):
        container.app.recorder.insert_events([StoredEvent(originator, 1, "scheduler:Test", b"{}")])
    container.app.recorder.insert_events([StoredEvent(originator, 2, "scheduler:Test", b"{}")])
    where = sql(
        settings,
        "SELECT tableoid::regclass::text FROM scheduler_events "
        f"WHERE originator_id = '{originator}' ORDER BY originator_version",
    )
    assert where == [("scheduler_events_p0",), ("scheduler_events_p1000",)]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE scheduler_events SET topic = 'x'",
        "DELETE FROM scheduler_events",
        "UPDATE scheduler_events_p0 SET topic = 'x'",
        "DELETE FROM scheduler_events_p0",
        "TRUNCATE scheduler_events_p0",
        "TRUNCATE scheduler_events",
    ],
)
def test_every_partition_is_append_only(
    container: Container, settings: Settings, statement: str
) -> None:
    finished_runs(container, 1, context(datetime.now(UTC)))
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        sql(settings, statement)


def test_detaching_removes_the_archived_runs_and_keeps_open_ones_at_their_positions(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    old = context(now - timedelta(days=3))
    archived = finished_runs(container, 30, old)
    still_open = requested(old)
    container.app.save(still_open)
    open_positions = container.database.event_tables.positions(still_open.id)
    jump_to(settings, PARTITION + 10)
    late = finished_runs(container, 5, old)  # above the horizon: not archived yet
    catch_up(container)
    archiving = build_archiving(settings, container.app, container.database)
    outcome = archiving.export(now - timedelta(days=1), 24, context(now), detach=True, keep=False)

    assert outcome.horizon == PARTITION
    assert outcome.file is not None
    assert (outcome.file["events"], outcome.file["aggregates"]) == (120, 30)
    assert outcome.removal is not None
    assert (outcome.removal.removed, outcome.removal.kept) == (120, 1)
    for run_id in archived:
        with pytest.raises(AggregateNotFoundError):
            container.app.repository.get(run_id)
    assert container.database.event_tables.positions(still_open.id) == open_positions
    assert container.app.repository.get(still_open.id).id == still_open.id
    assert container.app.repository.get(late[0]).is_finished
    catch_up(container)
    gone = container.database.query("SELECT count(*) AS n FROM runs WHERE status = 'succeeded'")
    assert gone[0]["n"] == 0  # Retention.Applied: finished three days ago, outside one day
    chain = SqlChainStore(container.database)
    assert verify_archives(archiving.directory, chain).intact
    # The audit chain still verifies: the archive supplies the positions no longer live.
    log = ArchivedLog(container.app.stored_log, archiving.directory)
    assert verify_chain(log, chain).broken is None
    assert verify_chain(container.app.stored_log, chain).broken is not None
    # Time travel into the archived range answers from the files.
    replay = container.history.replay(
        "run", archived[0], as_of=(now - timedelta(days=2)).isoformat()
    )
    assert replay.state is not None and replay.state["status"] == "succeeded"
    assert [r["position"] for r in container.history.records(archived[0], "run")] == [1, 2, 3, 4]
    # New saves still work, and land above the horizon.
    assert finished_runs(container, 1, context(now))


def test_a_tampered_archive_file_is_named(container: Container, settings: Settings) -> None:
    now = datetime.now(UTC)
    finished_runs(container, 3, context(now - timedelta(days=3)))
    jump_to(settings, PARTITION + 10)
    finished_runs(container, 1, context(now))  # the consumers pass the partition's bound
    catch_up(container)
    archiving = build_archiving(settings, container.app, container.database)
    outcome = archiving.export(now - timedelta(days=1), 24, context(now), detach=False, keep=False)
    assert outcome.file is not None
    events_file = archiving.directory / outcome.file["file"]
    lines = gzip.decompress(events_file.read_bytes()).replace(
        b'"originator_version":1', b'"originator_version":9'
    )
    events_file.write_bytes(gzip.compress(lines))
    result = verify_archives(archiving.directory, SqlChainStore(container.database))
    assert [p.file for p in result.problems] == [events_file.name]


def test_a_plain_event_table_with_events_becomes_the_first_partition(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        plain = build_container(load_settings(None, {"SCHEDULER_DATABASE__URL": url}))
        try:
            runs = finished_runs(plain, 3, context(datetime.now(UTC)))
            before = plain.database.event_tables.positions(runs[0])
        finally:
            plain.close()
        env = {
            "SCHEDULER_DATABASE__URL": url,
            "SCHEDULER_RETENTION__ENABLED": "true",
            "SCHEDULER_RETENTION__PARTITION_EVENTS": str(PARTITION),
        }
        partitioned = build_container(load_settings(None, env))
        try:
            assert partitioned.database.event_tables.positions(runs[0]) == before
            assert partitioned.app.repository.get(runs[0]).is_finished
            run = partitioned.app.repository.get(runs[1])
            with pytest.raises(IntegrityError):  # the old partition's own key still holds
                partitioned.app.recorder.insert_events(
                    [StoredEvent(run.id, 1, "scheduler:Test", b"{}")]
                )
            parts = PostgresLiveStore(partitioned.database, PARTITION).partitions()
            assert parts[0]["name"] == "scheduler_events_p0"
            assert (parts[0]["from"], parts[0]["to"]) == (None, PARTITION)
            finished_runs(partitioned, 1, context(datetime.now(UTC)))
        finally:
            partitioned.close()


def test_on_sqlite_files_are_exported_and_the_events_stay(tmp_path: Path) -> None:
    env = {
        "SCHEDULER_DATABASE__URL": f"sqlite:///{tmp_path / 'scheduler.db'}",
        "SCHEDULER_RETENTION__ENABLED": "true",
        "SCHEDULER_RETENTION__ARCHIVE_DIR": str(tmp_path / "archive"),
    }
    settings = load_settings(None, env)
    container = build_container(settings)
    try:
        now = datetime.now(UTC)
        runs = finished_runs(container, 4, context(now - timedelta(days=3)))
        recent = finished_runs(container, 1, context(now - timedelta(hours=1)))
        pending = requested(context(now - timedelta(days=3)))
        container.app.save(pending)
        catch_up(container)
        archiving = build_archiving(settings, container.app, container.database)
        with pytest.raises(ArchiveError, match="SQLite keeps them"):
            archiving.export(now - timedelta(days=1), 24, context(now), detach=True, keep=False)
        outcome = archiving.export(now - timedelta(days=1), 24, context(now), False, False)
        assert outcome.file is not None and outcome.file["aggregates"] == 4
        catch_up(container)
        left = container.database.query("SELECT id FROM runs ORDER BY requested_at")
        assert {uuid.UUID(str(row["id"])) for row in left} == {pending.id, recent[0]}
        assert container.app.repository.get(runs[0]).is_finished
        assert verify_archives(archiving.directory, SqlChainStore(container.database)).intact
    finally:
        container.close()


def test_rows_the_default_partition_took_are_compacted_with_the_rest(
    container: Container, settings: Settings
) -> None:
    now = datetime.now(UTC)
    old = context(now - timedelta(days=3))
    jump_to(settings, 5 * PARTITION)  # past the spare ranges: into the DEFAULT partition
    archived = finished_runs(container, 2, old)
    still_open = requested(old)
    container.app.save(still_open)
    live = PostgresLiveStore(container.database, PARTITION)
    assert live.keep_ahead()[0] == "partition scheduler_events_p5010 for positions 5010..5999"
    jump_to(settings, 6 * PARTITION + 10)
    finished_runs(container, 1, context(now))  # the consumers pass 6000
    catch_up(container)
    archiving = build_archiving(settings, container.app, container.database)
    outcome = archiving.export(now - timedelta(days=1), 24, context(now), detach=True, keep=True)
    assert outcome.removal is not None and outcome.horizon == 6 * PARTITION
    assert "scheduler_events_default_archived" in outcome.removal.partitions
    assert (outcome.removal.removed, outcome.removal.kept) == (8, 1)
    assert container.database.event_tables.positions(archived[0]) == {}
    assert container.app.repository.get(still_open.id).id == still_open.id
    assert sql(settings, "SELECT count(*) FROM scheduler_events_default") == [(0,)]
    finished_runs(container, 1, context(now))


def test_migrate_on_a_fresh_database_partitions_the_log_after_the_migrations(
    tmp_path: Path,
) -> None:
    with fresh_postgres_database() as url:
        env = {
            "SCHEDULER_DATABASE__URL": url,
            "SCHEDULER_RETENTION__ENABLED": "true",
            "SCHEDULER_RETENTION__PARTITION_EVENTS": str(PARTITION),
        }
        result = CliRunner().invoke(main, ["migrate"], env=env)
        assert result.exit_code == 0, result.output
        assert "scheduler_events partitioned: positions below 1000" in result.output
        kinds = sql(
            load_settings(None, env),
            "SELECT relkind FROM pg_class WHERE relname = 'scheduler_events'",
        )
        assert kinds in ([("p",)], [(b"p",)])
