"""configure_logging: once at start-up, and again (a reload) to change the level or format."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from adapters.log_format import JsonLineFormatter
from adapters.log_redaction import RedactingFilter
from adapters.log_shipping import LogShipper
from entrypoints.logging_setup import (
    LEVEL_LOGGERS,
    ConsoleHandler,
    configure_logging,
    ship_logs_to,
    stop_shipping,
)
from entrypoints.redaction import RedactingFormatter
from entrypoints.settings import Settings, load_settings

DATABASE_PASSWORD = "pw-conn-98765"


def settings(**observability: str) -> Settings:
    environ = {f"SCHEDULER_OBSERVABILITY__{k.upper()}": v for k, v in observability.items()}
    environ["SCHEDULER_AUTH__JWT_SECRET"] = "a-jwt-secret-that-is-long-enough-to-use-0123"
    environ["SCHEDULER_DATABASE__URL"] = f"postgresql://app:{DATABASE_PASSWORD}@db.internal/s"
    return load_settings(None, environ)


@pytest.fixture
def root() -> Iterator[logging.Logger]:
    """The root logger, left as it was found."""
    logger = logging.getLogger()
    handlers = list(logger.handlers)
    levels = {name: logging.getLogger(name).level for name in LEVEL_LOGGERS}
    yield logger
    stop_shipping()
    for handler in [h for h in logger.handlers if h not in handlers]:
        logger.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    for handler in handlers:  # pytest's: no filter of ours left on them
        for f in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(f)


def ours(root: logging.Logger, kind: type[logging.Handler]) -> list[logging.Handler]:
    return [h for h in root.handlers if isinstance(h, kind)]


def test_called_again_it_changes_level_and_format_of_the_same_handlers(
    root: logging.Logger,
) -> None:
    configure_logging(settings(log_format="json", log_level="info"), "api")
    console, shipper = ours(root, ConsoleHandler), ours(root, LogShipper)

    configure_logging(settings(log_format="text", log_level="debug"), "api")

    assert ours(root, ConsoleHandler) == console and ours(root, LogShipper) == shipper
    assert root.level == logging.DEBUG and logging.getLogger("uvicorn.error").level == logging.DEBUG
    formatter = console[0].formatter
    assert isinstance(formatter, RedactingFormatter)
    assert not isinstance(formatter.inner, JsonLineFormatter)


def test_a_process_ships_its_masked_json_lines_once_a_sink_is_given(
    root: logging.Logger,
) -> None:
    configure_logging(settings(log_format="json"), "projector")
    shipped: list[dict[str, object]] = []
    logging.getLogger("test.setup").warning("token a-jwt-secret-that-is-long-enough-to-use-0123")
    logging.getLogger("test.setup").error("login refused: %s", DATABASE_PASSWORD)

    ship_logs_to(shipped.extend)
    [shipper] = ours(root, LogShipper)
    assert isinstance(shipper, LogShipper) and shipper.drain()

    token, password = [s for s in shipped if s["logger"] == "test.setup"]
    assert token["message"] == "token ***" and token["process"] == "projector"
    assert password["message"] == "login refused: ***"


def test_a_cli_command_logs_to_stderr_only(root: logging.Logger) -> None:
    configure_logging(settings(log_format="json"))
    [console] = ours(root, ConsoleHandler)
    buffer = io.StringIO()
    assert isinstance(console, ConsoleHandler)
    console.setStream(buffer)

    logging.getLogger("test.setup").warning("hello")

    assert ours(root, LogShipper) == []
    assert orjson.loads(buffer.getvalue())["process"] == "cli"
