"""The log filter: every handler of the process masks secrets, also a worker's recent ones."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from adapters.log_redaction import (
    HANDLED_LOGGERS,
    REMEMBERED,
    RedactingFilter,
    install_redaction,
    remember_secrets,
)


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A root handler writing into a buffer, as configure_logging installs one."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        for name in HANDLED_LOGGERS:  # leave no filter on pytest's own handlers
            for other in logging.getLogger(name).handlers:
                for f in [f for f in other.filters if isinstance(f, RedactingFilter)]:
                    other.removeFilter(f)


def test_installed_on_every_handler_it_masks_config_secrets_and_remembered_ones(
    stream: io.StringIO,
) -> None:
    install_redaction(["db-pass-1234"])
    remember_secrets(("tok123-from-a-delivery",))
    logger = logging.getLogger("test.redaction")
    logger.warning("GET https://h/hook?Z=tok123-from-a-delivery with db-pass-1234")
    logger.warning("connect to redis://:guestpass@127.0.0.1:6379/0, api_token=abc123")
    text = stream.getvalue()
    assert "tok123-from-a-delivery" not in text and "db-pass-1234" not in text
    assert "guestpass" not in text and "abc123" not in text
    assert "GET https://h/hook?Z=*** with ***" in text


def test_installing_again_keeps_what_was_remembered(stream: io.StringIO) -> None:
    install_redaction()
    remember_secrets(("remembered-value",))
    install_redaction()  # uvicorn's configuration gave it handlers: installed once more
    logging.getLogger("test.redaction").warning("it was remembered-value")
    assert "remembered-value" not in stream.getvalue()


def test_only_the_most_recent_secrets_are_remembered() -> None:
    redacting = RedactingFilter()
    redacting.remember(f"value-{i:05d}" for i in range(REMEMBERED + 10))
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "value-00000 value-01009", None, None
    )
    redacting.filter(record)
    assert record.getMessage() == "value-00000 ***"
