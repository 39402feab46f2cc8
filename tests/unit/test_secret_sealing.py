"""Secret values are sealed before any event holds them, and opened only for the delivery."""

from __future__ import annotations

import base64
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from adapters.aes_secret_box import AesGcmSecretBox, key_id
from adapters.memory_bus import InMemoryBus
from application.commands.app import SchedulerApp
from application.messages import Delivery, Report
from application.ports import FakeClock
from application.secrets import SecretsNotConfiguredError
from application.worker_agent import WorkerAgent, WorkerProfile
from domain.context import CommandContext
from domain.errors import InvalidFieldError
from domain.secrets import MASK, sealed_key_ids
from domain.task import Task
from domain.task_run import TaskRun
from domain.task_spec import SpecValidationError, TaskSpec, validate_spec
from entrypoints.cli import main
from tests.unit.conftest import START, make_spec
from tests.unit.rig import Rig

KEY = os.urandom(32)
SECRET_SPEC = {
    "env": {"DB_PASSWORD": "hunter2", "X": {"secret": "hunter2"}, "LISTED": "s3cr3t", "M": "a"},
    "secret_env": ["LISTED"],
}
HTTP_SPEC = {
    "executor": "http",
    "command": "https://example.com/hook",
    "http": {"headers": {"Authorization": "Bearer tok123", "Accept": "application/json"}},
}


@pytest.fixture
def app() -> Iterator[SchedulerApp]:
    """The application on the in-memory store, with a key."""
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    with SchedulerApp(env=env, secrets=AesGcmSecretBox([KEY])) as application:
        yield application


def stored_bytes(app: SchedulerApp) -> bytes:
    """Every stored event's state, as the recorder holds it."""
    return b"".join(n.state for n in app.recorder.select_notifications(1, 100_000))


def test_secret_values_are_sealed_in_the_stored_events(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(name="db", **SECRET_SPEC), ctx).aggregate_id
    web_id = app.create_task(make_spec(name="web", **HTTP_SPEC), ctx).aggregate_id
    app.trigger_task(task_id, ctx, params={"API_TOKEN": "tok123", "DAY": "mon"})
    app.trigger_task(web_id, ctx, params={"Z": {"secret": "tok123"}})
    raw = stored_bytes(app)
    assert b"hunter2" not in raw and b"tok123" not in raw and b"s3cr3t" not in raw
    env = app.get_task(task_id).spec["env"]
    assert {name for name, v in env.items() if isinstance(v, dict)} == {
        "DB_PASSWORD",
        "X",
        "LISTED",
    }
    assert env["M"] == "a"
    headers = app.get_task(web_id).spec["http"]["headers"]
    assert set(headers["Authorization"]) == {"enc"} and headers["Accept"] == "application/json"


def test_without_a_key_a_secret_is_refused_naming_it_and_nothing_is_saved(
    ctx: CommandContext,
) -> None:
    with SchedulerApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}) as app:
        with pytest.raises(SecretsNotConfiguredError, match=r"env\.DB_PASSWORD: is a secret"):
            app.create_task(make_spec(name="db", env={"DB_PASSWORD": "hunter2"}), ctx)
        assert app.head_position() == 0
        task_id = app.create_task(make_spec(name="plain", env={"MODE": "a"}), ctx).aggregate_id
        with pytest.raises(InvalidFieldError, match=r"params\.API_TOKEN"):
            app.trigger_task(task_id, ctx, params={"API_TOKEN": "tok123"})
        assert b"hunter2" not in stored_bytes(app) and b"tok123" not in stored_bytes(app)


def test_the_mask_or_the_same_value_keeps_the_envelope_and_records_no_change(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(name="db", **SECRET_SPEC), ctx).aggregate_id
    before = app.get_task(task_id).spec["env"]
    shown = {"DB_PASSWORD": MASK, "X": MASK, "LISTED": MASK, "M": "a"}  # what a GET shows
    assert app.update_task(task_id, {"env": shown}, ctx).position is None
    again = {"DB_PASSWORD": "hunter2", "X": {"secret": "hunter2"}, "LISTED": "s3cr3t", "M": "a"}
    assert app.update_task(task_id, {"env": again}, ctx).position is None
    app.update_task(task_id, {"env": {**again, "DB_PASSWORD": "n3w-pass"}}, ctx)
    after = app.get_task(task_id).spec["env"]
    assert after["X"] == before["X"] and after["LISTED"] == before["LISTED"]
    assert after["DB_PASSWORD"] != before["DB_PASSWORD"]
    assert b"n3w-pass" not in stored_bytes(app)


def test_naming_a_variable_in_secret_env_later_seals_its_value(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(name="t", env={"MODE": "m0de"}), ctx).aggregate_id
    app.update_task(task_id, {"secret_env": ["MODE"]}, ctx)
    update = app.aggregate_events(task_id)[-1]
    assert set(update.changes["env"]["MODE"]) == {"enc"}


def test_a_rollback_restores_the_sealed_value_that_still_opens(
    app: SchedulerApp, ctx: CommandContext, rig_clock: FakeClock
) -> None:
    task_id = app.create_task(make_spec(name="t", env={"API_KEY": "k-one"}), ctx).aggregate_id
    app.update_task(task_id, {"env": {"API_KEY": "k-two"}}, ctx)
    app.rollback_task(task_id, 1, ctx)
    rig = Rig(app, rig_clock)
    worker = rig.worker("w1")
    rig.app.trigger_task(task_id, ctx)
    rig.dispatcher.follow_log()
    rig.dispatcher.assign_pending()
    (delivery,) = [m for m in rig.inbox(worker) if isinstance(m, Delivery)]
    assert delivery.env == {"API_KEY": "k-one"}


def test_a_repeated_trigger_compares_secret_params_as_plain_text(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(name="t"), ctx).aggregate_id
    first = app.trigger_task(task_id, ctx, params={"API_TOKEN": "tok123"}, idempotency_key="k")
    again = app.trigger_task(
        task_id, ctx, params={"API_TOKEN": {"secret": "tok123"}}, idempotency_key="k"
    )
    assert again.aggregate_id == first.aggregate_id and not again.created
    with pytest.raises(InvalidFieldError, match="different params"):
        app.trigger_task(task_id, ctx, params={"API_TOKEN": "other"}, idempotency_key="k")


@pytest.fixture
def rig_clock() -> FakeClock:
    return FakeClock(START)


def test_the_delivery_carries_the_plain_values_and_which_ones_to_mask(
    app: SchedulerApp, ctx: CommandContext, rig_clock: FakeClock
) -> None:
    rig = Rig(app, rig_clock)
    worker = rig.worker("w1")
    task_id = app.create_task(make_spec(name="db", **SECRET_SPEC), ctx).aggregate_id
    app.trigger_task(task_id, ctx, params={"API_TOKEN": "tok123", "DAY": "mon"})
    rig.dispatcher.follow_log()
    rig.dispatcher.assign_pending()
    (delivery,) = [m for m in rig.inbox(worker) if isinstance(m, Delivery)]
    assert delivery.env == {"DB_PASSWORD": "hunter2", "X": "hunter2", "LISTED": "s3cr3t", "M": "a"}
    assert delivery.params == {"API_TOKEN": "tok123", "DAY": "mon"}
    assert set(delivery.secrets) == {"hunter2", "s3cr3t", "tok123"}
    assert "hunter2" not in repr(delivery)
    assert Delivery.from_dict(delivery.to_dict()) == delivery


def test_http_headers_are_opened_for_the_delivery(
    app: SchedulerApp, ctx: CommandContext, rig_clock: FakeClock
) -> None:
    rig = Rig(app, rig_clock)
    worker = uuid.uuid4()
    app.register_worker_once(
        worker, {"name": "w", "executors": ["http"], "max_concurrent_tasks": 2}, rig.ctx()
    )
    rig.beat(worker)
    task_id = app.create_task(make_spec(name="web", **HTTP_SPEC), ctx).aggregate_id
    app.trigger_task(task_id, ctx)
    rig.dispatcher.follow_log()
    rig.dispatcher.assign_pending()
    (delivery,) = [m for m in rig.inbox(worker) if isinstance(m, Delivery)]
    assert delivery.http is not None
    assert delivery.http["headers"]["Authorization"] == "Bearer tok123"
    assert delivery.secrets == ("Bearer tok123",)


def test_a_run_whose_secret_cannot_be_opened_is_held_saying_why(
    ctx: CommandContext, rig_clock: FakeClock
) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
    with SchedulerApp(env=env, secrets=AesGcmSecretBox([KEY])) as writer:
        task_id = writer.create_task(make_spec(name="db", **SECRET_SPEC), ctx).aggregate_id
        writer.trigger_task(task_id, ctx)
        # The dispatcher's process was given another key: the same log, read with it.
        writer.opener = SchedulerApp(secrets=AesGcmSecretBox([os.urandom(32)]), env=env).opener
        rig = Rig(writer, rig_clock)
        worker = rig.worker("w1")
        rig.dispatcher.follow_log()
        rig.dispatcher.assign_pending()
        assert not [m for m in rig.inbox(worker) if isinstance(m, Delivery)]
        (held,) = rig.dispatcher.quarantine.entries(None)
        assert "SecretUnreadableError: env.DB_PASSWORD: sealed with key" in held.error
        assert "hunter2" not in held.error


def test_the_domain_refuses_to_record_an_unsealed_secret(ctx: CommandContext) -> None:
    spec = validate_spec({"name": "t", "command": "true", "env": {"DB_PASSWORD": "hunter2"}})
    with pytest.raises(SpecValidationError, match=r"env\.DB_PASSWORD: a secret value must be"):
        Task.create(uuid.uuid4(), spec, ctx)
    given = TaskSpec(name="t", command="true", env={"X": {"secret": "hunter2"}})
    with pytest.raises(SpecValidationError, match=r"env\.X"):
        Task.create(uuid.uuid4(), given, ctx)
    with pytest.raises(InvalidFieldError, match=r"params\.API_TOKEN"):
        TaskRun.request(
            uuid.uuid4(),
            task_id=uuid.uuid4(),
            task_version=1,
            task={},
            trigger="manual",
            ctx=ctx,
            params={"API_TOKEN": "tok123"},
        )


def test_callers_cannot_send_the_sealed_form() -> None:
    with pytest.raises(ValueError, match="written by the scheduler"):
        TaskSpec.model_validate(
            {"name": "t", "command": "true", "env": {"X": {"enc": "v1:abcd1234:AAAA"}}}
        )


def test_a_worker_masks_the_secrets_a_task_prints_in_its_report() -> None:
    output_seen = threading.Event()

    class Printing:
        def execute(self, delivery: Delivery, on_started: Any, on_output: Any = None) -> object:
            class Result:
                succeeded, exit_code, duration_seconds = False, 1, 0.01
                output = "[... 9 bytes truncated ...]\nter2 then hunter2 and tok123\n"
                error = "failed with tok123"

            on_started(1)
            on_output("so far hunter2 and tok1")  # the output so far, cut inside a secret
            output_seen.wait(5)  # else the final report could supersede it in one batch
            return Result()

        def cancel(self, run_id: uuid.UUID, attempt: int) -> bool:
            return False

        def cancel_all(self) -> int:
            return 0

    bus = InMemoryBus()
    agent = WorkerAgent(WorkerProfile("w", "h", ["shell"]), bus, Printing(), poll_interval=0.02)
    agent.start()
    stop = threading.Event()
    thread = threading.Thread(target=agent.run_forever, args=(stop, 1.0), daemon=True)
    thread.start()
    run_id = uuid.uuid4()
    bus.publish_delivery(
        Delivery(run_id, 1, agent.worker_id, "t", "shell", "x", secrets=("hunter2", "tok123"))
    )
    deadline, final, so_far = time.monotonic() + 5, None, None
    while final is None and time.monotonic() < deadline:
        got = [r.message for r in bus.receive_reports("test", 100, 0.1)]
        reports = [r for r in got if isinstance(r, Report)]
        so_far = next((r for r in reports if r.kind == "output"), so_far)
        if so_far is not None:
            output_seen.set()
        final = next((r for r in reports if r.kind == "failed"), None)
    stop.set()
    thread.join(5)
    assert so_far is not None and final is not None
    assert (so_far.output, so_far.sequence) == ("so far *** and ***", 1)
    assert final.output == "[... 9 bytes truncated ...]\n*** then *** and ***\n"
    assert final.error == "failed with ***"


def sqlite_app(path: Path, *keys: bytes) -> SchedulerApp:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    return SchedulerApp(env=env, secrets=AesGcmSecretBox(list(keys)))


def test_after_a_rotation_a_reseal_moves_secrets_to_the_new_key(
    tmp_path: Path, ctx: CommandContext
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    store = tmp_path / "events.db"
    with sqlite_app(store, old) as before:
        task_id = before.create_task(make_spec(name="db", **SECRET_SPEC), ctx).aggregate_id
        run_id = before.trigger_task(task_id, ctx, params={"API_TOKEN": "tok123"}).aggregate_id
    with sqlite_app(store, new, old) as rotated:
        assert sealed_key_ids(rotated.get_task(task_id).spec) == {key_id(old)}
        assert rotated.reseal_task(task_id, ctx).position is not None
        assert rotated.reseal_task(task_id, ctx).position is None  # all on the new key now
        assert sealed_key_ids(rotated.get_task(task_id).spec) == {key_id(new)}
        run = rotated.get_run(run_id)
        assert sealed_key_ids(run.params) == {key_id(old)}  # a run requested before
        assert rotated.opener.run(task_id, run.task, run.params).params == {"API_TOKEN": "tok123"}
    with sqlite_app(store, new) as retired:
        task = retired.get_task(task_id)
        opened = retired.opener.run(task_id, task.spec, {})
        assert opened.env["DB_PASSWORD"] == "hunter2" and opened.env["LISTED"] == "s3cr3t"
        with pytest.raises(InvalidFieldError, match="give the value again"):
            retired.rollback_task(task_id, 1, ctx)  # version 1 holds the retired key's values
    assert b"hunter2" not in store.read_bytes() and b"tok123" not in store.read_bytes()


def test_the_reseal_command_reports_what_it_sealed_and_the_keys_runs_still_need(
    tmp_path: Path, ctx: CommandContext
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    database = tmp_path / "scheduler.db"
    with sqlite_app(database, old) as before:
        task_id = before.create_task(make_spec(name="db", **SECRET_SPEC), ctx).aggregate_id
        before.trigger_task(task_id, ctx)
    keys = ",".join(base64.b64encode(k).decode() for k in (new, old))
    environ = {"SCHEDULER_SECRET_KEY": keys, "SCHEDULER_DATABASE__URL": f"sqlite:///{database}"}
    runner = CliRunner()
    dry = runner.invoke(main, ["secrets", "reseal", "--dry-run"], env=environ)
    assert dry.exit_code == 0, dry.output
    assert "would reseal task 'db'" in dry.output
    done = runner.invoke(main, ["secrets", "reseal"], env=environ)
    assert done.exit_code == 0, done.output
    assert "resealed task 'db'" in done.output
    assert f"1 tasks resealed with key {key_id(new)}" in done.output
    assert f"unfinished runs still need keys: {key_id(old)}" in done.output
    again = runner.invoke(main, ["secrets", "reseal"], env=environ)
    assert f"0 tasks resealed with key {key_id(new)}" in again.output


def test_a_task_stored_before_secret_env_existed_updates_without_a_spurious_change(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(name="old", env={"MODE": "a"}), ctx).aggregate_id
    task = app.get_task(task_id)
    del task.spec["secret_env"]  # as a Task.Created of an earlier release holds it
    assert task.update({"priority": "high"}, ctx) == {"priority": "high"}
