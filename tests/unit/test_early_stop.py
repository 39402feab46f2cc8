"""A process told to stop while it is still starting exits cleanly, with status 0."""

from __future__ import annotations

import os
import signal
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from entrypoints import cli

SLOW_START = "tests_unit_slow_start"


def _starting_forever(live: Any, config_paths: Any) -> None:
    # A main that is still opening its store when the SIGTERM comes, before any handler
    # of its own is installed. Without one installed already, the signal would kill pytest.
    assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None), "no handler yet"
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(10)
    raise AssertionError("the SIGTERM did not stop the start")


@pytest.fixture
def slow_start(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    module = types.ModuleType(SLOW_START)
    module.run_dispatcher = _starting_forever  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, SLOW_START, module)
    monkeypatch.setitem(cli.PROCESS_MODULES, "dispatcher", SLOW_START)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_a_sigterm_during_start_up_exits_zero_at_once(slow_start: None, tmp_path: Path) -> None:
    config = tmp_path / "scheduler.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')
    started = time.monotonic()
    result = CliRunner().invoke(cli.main, ["dispatcher", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 5, "it waited out the start instead of stopping"
