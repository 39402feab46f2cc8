"""GET /api/system/logs in process: shipped lines read back by filter, and who may read them."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from adapters.log_format import LogFieldsFilter
from adapters.log_table import LogTable
from tests.routes.support import Api, exercises

L = "/api/system/logs"
NOW = datetime.now(UTC).replace(microsecond=0)


def line(message: str, *, minutes_ago: float = 0, **fields: object) -> dict[str, object]:
    """A shipped line as a process's shipper makes it."""
    moment = NOW - timedelta(minutes=minutes_ago)
    return {
        "time": moment.isoformat(),
        "level": "info",
        "logger": "test.logs",
        "message": message,
        "process": "api",
        "pid": 42,
        "host": "h1",
        **fields,
    }


@pytest.fixture
def run_id() -> str:
    """The run a test's lines are about."""
    return str(uuid.uuid4())


@pytest.fixture
def shipped(api: Api, run_id: str) -> Iterator[str]:
    """Lines of three processes in the table; yields the marker that names this test's lines."""
    marker = uuid.uuid4().hex[:10]
    table = LogTable(api.container.database, keep_records=100_000, keep_hours=24)
    table.write(
        [
            line(f"{marker} api request", minutes_ago=30, correlation_id=str(uuid.uuid4())),
            line(f"{marker} run delivered", process="dispatcher", run_id=run_id, attempt=1),
            line(
                f"{marker} 100%_done attempt failed",
                process="worker",
                level="warning",
                level_no=30,
                run_id=run_id,
                worker_id=str(uuid.uuid4()),
                action="attempt_failed",
            ),
        ]
    )
    yield marker


@exercises("GET", L)
def test_records_of_every_process_are_filtered_by_run_level_process_time_and_text(
    api: Api, shipped: str, run_id: str
) -> None:
    client = api.client()

    by_run = client.get(L, params={"run_id": run_id}).json()["items"]
    warnings = client.get(L, params={"q": shipped, "level": "warning"}).json()["items"]
    workers = client.get(L, params={"q": shipped, "process": "worker"}).json()["items"]
    recent = client.get(L, params={"q": shipped, "since": (NOW - timedelta(minutes=5)).isoformat()})
    older = client.get(L, params={"q": shipped, "until": (NOW - timedelta(minutes=5)).isoformat()})
    literal = client.get(L, params={"q": f"{shipped} 100%_"}).json()["items"]

    assert [r["process"] for r in by_run] == ["worker", "dispatcher"]  # newest first
    assert by_run[0]["extra"] == {"action": "attempt_failed"} and by_run[1]["attempt"] == 1
    assert [r["message"] for r in warnings] == [f"{shipped} 100%_done attempt failed"]
    assert [r["process"] for r in workers] == ["worker"]
    assert recent.json()["total"] == 2 and older.json()["total"] == 1
    assert older.json()["items"][0]["correlation_id"] is not None
    assert len(literal) == 1  # % and _ are matched as themselves


@exercises("GET", L)
def test_pages_go_back_by_offset_or_by_id(api: Api, shipped: str) -> None:
    client = api.client()

    first = client.get(L, params={"q": shipped, "limit": 2}).json()
    rest = client.get(L, params={"q": shipped, "before": first["items"][-1]["id"]}).json()
    skipped = client.get(L, params={"q": shipped, "offset": 2}).json()

    assert first["total"] == 3 and len(first["items"]) == 2
    assert [r["id"] for r in rest["items"]] == [r["id"] for r in skipped["items"]]
    assert len(rest["items"]) == 1


@exercises("GET", L)
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"level": "loud"}, "level"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"process": "cron"}, "process"),
        ({"run_id": "run-1"}, "run_id"),
        ({"correlation_id": "x"}, "correlation_id"),
        ({"limit": 0}, "limit"),
        ({"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "until"),
        ({"levels": "info"}, "levels"),
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(api: Api, params: dict[str, object], field: str) -> None:
    response = api.client().get(L, params=params)

    assert response.status_code == 422
    assert field in [e["field"] for e in response.json()["errors"]]


@exercises("GET", L)
def test_operators_read_the_logs_and_viewers_do_not(api: Api) -> None:
    viewer = api.client(api.key("viewer")).get(L)
    operator = api.client(api.key("operator")).get(L)

    assert viewer.status_code == 403 and "read_logs" in viewer.json()["detail"]
    assert operator.status_code == 200


class Captured(logging.Handler):
    """Keeps what the records it is given say, stamped as a process's handlers stamp them."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, object]] = []
        self.addFilter(LogFieldsFilter("api"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append({**vars(record), "message": record.getMessage()})


@exercises("GET", L)
def test_a_request_s_log_lines_carry_its_correlation_id_and_principal(api: Api) -> None:
    captured = Captured()
    logging.getLogger("entrypoints.api.permissions").addHandler(captured)
    correlation = str(uuid.uuid4())
    try:
        viewer = api.client(api.key("viewer"), **{"X-Correlation-Id": correlation})
        refused = viewer.get(L)  # logged as a warning by the permission check
        anonymous = api.client().get(L)
    finally:
        logging.getLogger("entrypoints.api.permissions").removeHandler(captured)

    assert refused.headers["x-correlation-id"] == correlation
    assert uuid.UUID(anonymous.headers["x-correlation-id"])  # none given: a new one
    [line] = [r for r in captured.lines if r["message"] == "request forbidden"]
    assert line["correlation_id"] == correlation
    assert str(line["principal"]).startswith("key:viewer-")
