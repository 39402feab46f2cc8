"""A worker's profile is one value: from the config, the bus, the HTTP body, into its event."""

from __future__ import annotations

import uuid

from application.commands.app import SchedulerApp
from application.messages import Report
from domain.context import CommandContext
from domain.worker import Worker, WorkerProfile
from entrypoints.api.schemas import WorkerRegister

PROFILE = WorkerProfile("gpu-1", "box", ["shell", "python"], ["gpu"], {"zone": "a"}, 4)


def registered(app: SchedulerApp, worker_id: uuid.UUID) -> Worker.Registered:
    [event] = app.events.get(worker_id)
    assert isinstance(event, Worker.Registered)
    return event


def test_a_profile_holds_its_sequences_as_tuples_and_a_copy_of_its_labels() -> None:
    labels = {"zone": "a"}
    profile = WorkerProfile("w", "h", ["shell"], ["q"], labels)
    labels["zone"] = "b"
    assert (profile.executors, profile.queues, profile.labels) == (
        ("shell",),
        ("q",),
        {"zone": "a"},
    )
    assert profile == WorkerProfile("w", "h", ("shell",), ("q",), {"zone": "a"})


def test_a_profile_sent_without_some_fields_takes_the_defaults_a_registration_always_had() -> None:
    worker_id = uuid.uuid4()
    assert WorkerProfile.from_dict({}, worker_id) == WorkerProfile(
        str(worker_id), "unknown", ["shell"], ["default"], {}, 1
    )
    assert WorkerProfile.from_dict(PROFILE.as_dict(), worker_id) == PROFILE


def test_a_registration_report_carries_the_profile_across_the_wire() -> None:
    worker_id = uuid.uuid4()
    report = Report("registered", None, 0, worker_id, profile=PROFILE)
    wire = report.to_dict()
    assert wire["profile"] == {
        "name": "gpu-1",
        "hostname": "box",
        "executors": ["shell", "python"],
        "queues": ["gpu"],
        "labels": {"zone": "a"},
        "max_concurrent_tasks": 4,
    }
    assert Report.from_dict(wire) == report
    assert Report("registered", None, 0, worker_id, profile=PROFILE.as_dict()).profile == PROFILE


def test_every_way_in_records_the_same_registered_event(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    by_fields = app.register_worker(
        name="gpu-1",
        hostname="box",
        executors=["shell", "python"],
        queues=["gpu"],
        labels={"zone": "a"},
        max_concurrent_tasks=4,
        ctx=ctx,
    ).aggregate_id
    by_profile = app.register_worker_profile(PROFILE, ctx).aggregate_id
    from_bus, from_bus_dict = uuid.uuid4(), uuid.uuid4()
    assert app.register_worker_once(from_bus, PROFILE, ctx)
    assert app.register_worker_once(from_bus_dict, PROFILE.as_dict(), ctx)
    assert not app.register_worker_once(from_bus, PROFILE, ctx), "a repeat records nothing"
    body = WorkerRegister.model_validate(PROFILE.as_dict())
    by_http = app.register_worker_profile(body.to_profile(), ctx).aggregate_id
    fields = set(PROFILE.as_dict())
    stored = [
        {k: v for k, v in vars(registered(app, w)).items() if k in fields}
        for w in (by_fields, by_profile, from_bus, from_bus_dict, by_http)
    ]
    assert stored == [{**PROFILE.as_dict()}] * 5
