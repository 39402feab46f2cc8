"""Bus messages keep today's wire format byte for byte, so old and new processes can mix."""

from __future__ import annotations

import ast
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from application import messages
from application.messages import Control, Delivery, Heartbeat, Report, inbox_message_from_dict
from domain.worker import WorkerProfile

RUN = uuid.UUID("0b5c7f0e-8a43-4c1e-9d7a-1f2e3d4c5b6a")
WORKER = uuid.UUID("5f6e7d8c-9b0a-4c1d-8e2f-3a4b5c6d7e8f")
STARTED = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PLUS_TWO = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
HTTP = {"method": "POST", "headers": {"X": "y"}, "body": None, "expected_status": [200, 201]}
PROFILE = WorkerProfile("gpu-1", "box", ["shell", "python"], ["gpu"], {"zone": "a"}, 4)
# What old parsers raised (KeyError, TypeError, ValueError) and pydantic raises (a ValueError):
# the buses move any of them aside as unreadable.
UNREADABLE = (KeyError, TypeError, ValueError)


def wire(text: str) -> bytes:
    """A message as the bus carries it, with <run> and <worker> standing for the ids."""
    return text.replace("<run>", str(RUN)).replace("<worker>", str(WORKER)).encode()


# What the bus carries today: orjson.dumps(message.to_dict()), as Redis (the "m" field) and
# RabbitMQ (the body) send it. Written out by hand so that any change of format shows here
# (since issue 10 a delivery also names its secrets, last).
WIRE: list[tuple[Any, bytes]] = [
    (
        Delivery(
            RUN,
            2,
            WORKER,
            "nightly",
            "shell",
            "echo hi",
            ("a", "b"),
            {"K": "V"},
            "/tmp",
            30,
            {"P": "1"},
            HTTP,
            shard_index=1,
            shard_total=3,
        ),
        wire(
            '{"type":"delivery","run_id":"<run>","attempt":2,"worker_id":"<worker>",'
            '"task_name":"nightly","executor":"shell","command":"echo hi","args":["a","b"],'
            '"env":{"K":"V"},"working_dir":"/tmp","timeout_seconds":30,"params":{"P":"1"},'
            '"http":{"method":"POST","headers":{"X":"y"},"body":null,'
            '"expected_status":[200,201]},"shard_index":1,"shard_total":3,"secrets":[]}'
        ),
    ),
    (
        Delivery(RUN, 1, WORKER, "t", "shell", "true"),
        wire(
            '{"type":"delivery","run_id":"<run>","attempt":1,"worker_id":"<worker>",'
            '"task_name":"t","executor":"shell","command":"true","args":[],"env":{},'
            '"working_dir":null,"timeout_seconds":0,"params":{},"http":null,"shard_index":null,'
            '"shard_total":null,"secrets":[]}'
        ),
    ),
    (
        Control("recorded", WORKER, RUN, 2),
        wire(
            '{"type":"control","kind":"recorded","worker_id":"<worker>","run_id":"<run>",'
            '"attempt":2}'
        ),
    ),
    (
        Control("rejoin", WORKER),
        wire('{"type":"control","kind":"rejoin","worker_id":"<worker>","run_id":null,"attempt":0}'),
    ),
    (
        Report("started", RUN, 2, WORKER, pid=4242, hostname="box", started_at=STARTED),
        wire(
            '{"type":"report","kind":"started","run_id":"<run>","attempt":2,'
            '"worker_id":"<worker>","pid":4242,"exit_code":null,"error":null,'
            '"duration_seconds":0.0,"output":"","profile":null,"timed_out":false,'
            '"hostname":"box","started_at":"2026-01-02T03:04:05.678901+00:00"}'
        ),
    ),
    (
        Report(
            "failed",
            RUN,
            2,
            WORKER,
            pid=4242,
            exit_code=3,
            error="boom",
            duration_seconds=1.5,
            output="tail\n",
            timed_out=True,
            hostname="box",
            started_at=PLUS_TWO,
        ),
        wire(
            '{"type":"report","kind":"failed","run_id":"<run>","attempt":2,'
            '"worker_id":"<worker>","pid":4242,"exit_code":3,"error":"boom",'
            '"duration_seconds":1.5,"output":"tail\\n","profile":null,"timed_out":true,'
            '"hostname":"box","started_at":"2026-01-02T03:04:05+02:00"}'
        ),
    ),
    (
        Report("registered", None, 0, WORKER, profile=PROFILE),
        wire(
            '{"type":"report","kind":"registered","run_id":null,"attempt":0,'
            '"worker_id":"<worker>","pid":null,"exit_code":null,"error":null,'
            '"duration_seconds":0.0,"output":"","profile":{"name":"gpu-1","hostname":"box",'
            '"executors":["shell","python"],"queues":["gpu"],"labels":{"zone":"a"},'
            '"max_concurrent_tasks":4},"timed_out":false,"hostname":null,"started_at":null}'
        ),
    ),
    (
        Report("deregistered", None, 0, WORKER),
        wire(
            '{"type":"report","kind":"deregistered","run_id":null,"attempt":0,'
            '"worker_id":"<worker>","pid":null,"exit_code":null,"error":null,'
            '"duration_seconds":0.0,"output":"","profile":null,"timed_out":false,'
            '"hostname":null,"started_at":null}'
        ),
    ),
    (
        Heartbeat(WORKER, "w1", ((RUN, 2),), True),
        wire(
            '{"type":"heartbeat","worker_id":"<worker>","name":"w1","running":[["<run>",2]],'
            '"draining":true}'
        ),
    ),
    (
        Heartbeat(WORKER, "w1"),
        wire(
            '{"type":"heartbeat","worker_id":"<worker>","name":"w1","running":[],"draining":false}'
        ),
    ),
]
PARSERS = {
    "delivery": inbox_message_from_dict,
    "control": inbox_message_from_dict,
    "report": Report.from_dict,
    "heartbeat": Heartbeat.from_dict,
}


@pytest.mark.parametrize(("message", "sent"), WIRE)
def test_a_message_goes_on_the_wire_as_it_did(message: Any, sent: bytes) -> None:
    assert orjson.dumps(message.to_dict()) == sent


@pytest.mark.parametrize(("message", "sent"), WIRE)
def test_a_message_comes_off_the_wire_as_it_was_sent(message: Any, sent: bytes) -> None:
    data = orjson.loads(sent)
    parsed = PARSERS[data["type"]](data)
    assert parsed == message
    assert orjson.dumps(parsed.to_dict()) == sent


def test_what_an_older_worker_leaves_out_takes_its_old_default() -> None:
    run, worker = str(RUN), str(WORKER)
    # A report from before the start fields; a control and a heartbeat with only what they
    # must carry; a registration with an empty profile.
    report = Report.from_dict({"kind": "started", "run_id": run, "attempt": 1, "worker_id": worker})
    assert (report.pid, report.hostname, report.started_at) == (None, None, None)
    assert Control.from_dict({"kind": "drain", "worker_id": worker}) == Control("drain", WORKER)
    assert Heartbeat.from_dict({"worker_id": worker}) == Heartbeat(WORKER, "")
    registered = Report.from_dict(
        {"kind": "registered", "run_id": None, "attempt": 0, "worker_id": worker, "profile": {}}
    )
    assert registered.profile == WorkerProfile(worker, "unknown", ["shell"], ["default"], {}, 1)


@pytest.mark.parametrize(
    "data",
    [
        {"type": "nonsense"},  # read as a delivery: no run, no worker
        {"type": "delivery", "run_id": "not-a-uuid", "attempt": 1, "worker_id": str(WORKER)},
        {"type": "control", "worker_id": str(WORKER)},  # no kind
    ],
)
def test_an_unreadable_inbox_message_raises_for_the_bus_to_move_aside(
    data: dict[str, Any],
) -> None:
    with pytest.raises(UNREADABLE):
        inbox_message_from_dict(data)


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "succeeded", "run_id": "not-a-uuid", "attempt": "one"},
        # A field no version sends: refused, as it always was.
        {"kind": "started", "run_id": str(RUN), "attempt": 1, "worker_id": str(WORKER), "x": 1},
    ],
)
def test_an_unreadable_report_raises_for_the_bus_to_move_aside(data: dict[str, Any]) -> None:
    with pytest.raises(UNREADABLE):
        Report.from_dict(data)


def declared_signatures() -> dict[str, ast.arguments]:
    """The `__init__` each message declares for type checkers, by class name."""
    tree = ast.parse(Path(messages.__file__).read_text())
    found = {}
    for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
        for block in (node for node in cls.body if isinstance(node, ast.If)):
            for init in block.body:
                if isinstance(init, ast.FunctionDef) and init.name == "__init__":
                    found[cls.name] = init.args
    return found


def test_each_signature_declared_for_type_checkers_lists_the_fields_in_order() -> None:
    declared = declared_signatures()
    assert set(declared) == {"Control", "Report", "Heartbeat"}
    for name, args in declared.items():
        fields = getattr(messages, name).model_fields
        assert [a.arg for a in args.args[1:]] == list(fields), name
        required = [f for f, info in fields.items() if info.is_required()]
        assert [a.arg for a in args.args[1 : len(args.args) - len(args.defaults)]] == required


def test_validation_does_not_go_through_the_positional_init_again() -> None:
    # Off the wire a message is validated once: pydantic calls a model's own __init__ (which
    # validates again) unless it is marked as pydantic's. Built in order, it is still checked.
    for kind in (Delivery, Control, Report, Heartbeat):
        assert kind.__pydantic_custom_init__ is False
    worker = uuid.uuid4()
    assert Report.from_dict(Report("started", uuid.uuid4(), 1, worker, pid=3).to_dict()).pid == 3
    with pytest.raises(ValueError, match="run_id"):
        Report("started", "not-a-uuid", 1, worker)
