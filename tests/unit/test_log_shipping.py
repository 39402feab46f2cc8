"""Shipping log records: batched off the caller's thread, bounded, losses counted; the table."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from adapters.log_format import LogFieldsFilter
from adapters.log_query import LogFilter, read_logs
from adapters.log_shipping import LogShipper
from adapters.log_table import LogTable, row_of
from adapters.memory_bus import InMemoryBus
from adapters.migrations import apply_migrations
from adapters.sqlite.database import SqliteDatabase
from application.log_context import log_context
from entrypoints.logging_setup import collect_logs


def record(message: str, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord("test.ship", level, __file__, 1, message, None, None)


class Sink:
    """Collects the batches it is handed; can be made to fail or to block."""

    def __init__(self) -> None:
        self.lines: list[dict[str, object]] = []
        self.failing = False
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, lines: list[dict[str, object]]) -> None:
        self.gate.wait(10)
        if self.failing:
            raise ConnectionError("down")
        self.lines += lines


@pytest.fixture
def sink() -> Sink:
    return Sink()


def shipper(sink: Sink, **options: int) -> LogShipper:
    handler = LogShipper(sink, interval=0.05, **options)  # type: ignore[arg-type]
    handler.addFilter(LogFieldsFilter("worker"))
    return handler


def test_records_reach_the_sink_as_json_objects_with_their_context(sink: Sink) -> None:
    handler = shipper(sink)
    logger = logging.getLogger("test.ship.levels")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    with log_context(run_id="r-9"):
        logger.info("started")
    logger.debug("chatty")  # below the handler's level: not shipped
    logger.removeHandler(handler)

    assert handler.drain()
    handler.close()
    [line] = sink.lines
    assert line["message"] == "started" and line["run_id"] == "r-9"
    assert line["process"] == "worker" and line["level_no"] == logging.INFO


def test_a_full_queue_drops_and_the_count_arrives_as_a_warning_line(sink: Sink) -> None:
    sink.gate.clear()  # the sink hangs: the queue fills behind it
    handler = shipper(sink, capacity=3, batch=1)
    for n in range(10):
        handler.handle(record(f"line {n}"))  # never blocks the caller
    sink.gate.set()

    assert handler.drain()
    handler.handle(record("after"))  # the next batch reports what was lost
    assert handler.drain()
    handler.close()
    assert handler.dropped >= 6
    dropped = [line for line in sink.lines if "dropped" in line]
    assert dropped and sum(int(line["dropped"]) for line in dropped) == handler.dropped  # type: ignore[call-overload]
    assert dropped[0]["level"] == "warning" and dropped[0]["process"] == "worker"


def test_a_failing_sink_loses_the_batch_counts_it_and_never_raises(sink: Sink) -> None:
    sink.failing = True
    handler = shipper(sink)
    handler.handle(record("lost"))
    assert handler.drain()
    sink.failing = False
    handler.handle(record("kept"))
    assert handler.drain()
    handler.close()

    assert handler.dropped >= 1
    assert "kept" in [line["message"] for line in sink.lines]
    # The loss is said once the sink takes lines again.
    assert sum(int(line.get("dropped", 0)) for line in sink.lines) == handler.dropped  # type: ignore[call-overload]


def test_records_wait_for_a_sink_until_one_is_attached(sink: Sink) -> None:
    handler = LogShipper(interval=0.05)
    handler.handle(record("early"))
    assert not handler.drain(0.2)  # nowhere to go yet

    handler.attach(sink)

    assert handler.drain()
    handler.close()
    assert [line["message"] for line in sink.lines] == ["early"]


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "logs.db")
    apply_migrations(db, announce=False)
    yield db
    db.close()


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def line(message: str, hours_ago: float = 0, **fields: object) -> dict[str, object]:
    at = (NOW - timedelta(hours=hours_ago)).isoformat()
    return {"time": at, "level": "info", "logger": "l", "message": message, **fields}


def test_the_table_keeps_the_newest_records_by_count_and_age(database: SqliteDatabase) -> None:
    table = LogTable(database, keep_records=3, keep_hours=2, now=lambda: NOW)
    table.write([line("old", hours_ago=3), *(line(f"new {n}") for n in range(4))])

    items, total = read_logs(database, LogFilter())

    assert total == 3 and [i["message"] for i in items] == ["new 3", "new 2", "new 1"]


def test_a_line_s_unknown_fields_go_to_extra_and_long_text_is_cut() -> None:
    row = row_of(line("x" * 20_000, action="a", process="up", attempt="2", level="ERROR"))

    assert row["extra"] == '{"action":"a"}' and len(row["message"]) == 10_000
    assert (row["attempt"], row["level"], row["level_no"]) == (2, "error", logging.ERROR)


def test_a_long_traceback_is_cut_and_extra_stays_json() -> None:
    row = row_of(line("boom", exc_info="x" * 50_000, action="crashed"))

    extra = orjson.loads(row["extra"])
    assert len(row["extra"]) <= 10_000 and extra["action"] == "crashed"
    assert extra["exc_info"].startswith("xxx") and len(extra["exc_info"]) < 10_000


def test_a_dispatcher_moves_the_workers_lines_from_the_bus_into_the_table(
    database: SqliteDatabase,
) -> None:
    bus, stop = InMemoryBus(), threading.Event()
    bus.publish_logs([line("from a worker", process="worker", run_id="r-1")])
    table = LogTable(database, keep_records=100, keep_hours=24, now=lambda: NOW)
    collector = threading.Thread(target=collect_logs, args=(bus, table, stop))
    collector.start()
    try:
        for _ in range(200):
            items, _total = read_logs(database, LogFilter(run_id="r-1"))
            if items:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        collector.join(5)

    assert [(i["process"], i["message"]) for i in items] == [("worker", "from a worker")]
    assert bus.take_logs(10) == []
