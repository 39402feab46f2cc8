"""JSON log lines: the fixed fields, the context's ids where known, secrets masked."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator

import orjson
import pytest
from opentelemetry.context import attach, detach

from adapters.log_format import LogFieldsFilter, make_formatter
from adapters.log_redaction import RedactingFilter
from adapters.tracing import remote_context
from application.log_context import current_log_context, log_context

SECRET = "s3cret-token-value"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose records go through the filters and formatter a process installs."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(LogFieldsFilter("dispatcher", host="host-1"))
    handler.addFilter(RedactingFilter([SECRET]))
    handler.setFormatter(make_formatter("json"))
    logger = logging.getLogger("test.log_format")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def parsed(buffer: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(text) for text in buffer.getvalue().splitlines()]


def test_a_line_has_the_fixed_fields_and_no_ids_outside_a_context(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = lines

    logger.warning("disk %s full", "sda", extra={"action": "checked"})

    [line] = parsed(buffer)
    assert list(line)[:7] == ["time", "level", "logger", "message", "process", "pid", "host"]
    assert line["level"] == "warning" and line["logger"] == "test.log_format"
    assert line["message"] == "disk sda full" and line["action"] == "checked"
    assert line["process"] == "dispatcher" and line["pid"] == os.getpid()
    assert line["host"] == "host-1" and str(line["time"]).endswith("Z")
    assert "run_id" not in line and "correlation_id" not in line and "trace_id" not in line


def test_the_ids_bound_where_the_code_runs_are_on_its_lines_and_only_there(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = lines

    with log_context(run_id="r-1", attempt=2, worker_id="w-1"):
        with log_context(task_id="t-1", worker_id=None):
            logger.info("inside")
        logger.info("outer")
    logger.info("after")

    inside, outer, after = parsed(buffer)
    assert (inside["run_id"], inside["attempt"], inside["task_id"]) == ("r-1", 2, "t-1")
    assert inside["worker_id"] == "w-1"  # None binds nothing: the outer value stays
    assert "task_id" not in outer and outer["run_id"] == "r-1"
    assert "run_id" not in after and current_log_context() == {}


def test_a_field_outside_the_known_ones_is_refused() -> None:
    with pytest.raises(ValueError, match="not a log context field: runid"), log_context(runid="x"):
        pass


def test_secrets_are_masked_in_the_message_the_extra_fields_and_the_traceback(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = lines

    logger.info("calling with %s", SECRET, extra={"url": f"https://u:{SECRET}@h/"})
    try:
        raise RuntimeError(f"refused token {SECRET}")
    except RuntimeError:
        logger.exception("call failed", extra={"api_token": "abc"})

    text = buffer.getvalue()
    assert SECRET not in text
    first, second = parsed(buffer)
    assert first["message"] == "calling with ***"
    assert "refused token ***" in str(second["exc_info"]) and second["api_token"] == "***"


def test_the_text_format_is_the_readable_one() -> None:
    record = logging.LogRecord("a.b", logging.INFO, __file__, 1, "hello", None, None)

    text = make_formatter("text").format(record)

    assert text.endswith(" INFO a.b hello") and not text.startswith("{")


def test_the_context_s_ids_are_not_taken_for_secrets(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = lines

    with log_context(principal="key:ci-deployer", correlation_id=SECRET):
        logger.info("hello")

    [line] = parsed(buffer)
    assert line["principal"] == "key:ci-deployer"  # a key's name, never its secret
    assert line["correlation_id"] == "***"  # a known secret value is masked wherever it is


def test_a_line_logged_inside_a_span_carries_its_trace_and_span_ids(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = lines
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    context = remote_context(traceparent)
    assert context is not None

    token = attach(context)
    try:
        logger.info("inside the request's trace")
    finally:
        detach(token)
    logger.info("outside any trace")

    inside, outside = parsed(buffer)
    assert (inside["trace_id"], inside["span_id"]) == (
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "00f067aa0ba902b7",
    )
    assert "trace_id" not in outside and "span_id" not in outside
