"""Schemathesis fuzzes every operation of the OpenAPI document: no input may cause a 5xx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import SchedulerProcess

ST = Path(sys.executable).with_name("st")


def test_no_generated_request_gets_a_server_error(scheduler: SchedulerProcess) -> None:
    done = subprocess.run(
        [
            str(ST),
            "run",
            f"{scheduler.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "12",
            "--seed",
            "20261128",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
