"""A running `scheduler up` with two config files: a saved change applies, a bad one is refused.

The rate limit is the reloadable key watched over HTTP: after the file is saved, the next
requests meet the new limit; a broken file, a bad value or a change that needs a restart
leaves the limit (and the process) as it was; SIGHUP reloads too and never kills it.
"""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.e2e.conftest import SCHEDULER, SchedulerProcess, base_env

BASE = (
    '[observability]\nlog_level = "info"\n'
    "[api]\nrate_limit_per_second = 1000\nrate_limit_burst = 1000\n"
)


def wait_until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)  # /metrics allows a probe 20 a second
    raise AssertionError(f"timed out waiting for {what}")


def metric(url: str, name: str, labels: str = "") -> float:
    """One sample of /metrics (a probe path: its own bucket, never the clients' limit)."""
    text = httpx.get(f"{url}/metrics", timeout=5).text
    found = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else -1.0


def reloads(url: str, result: str) -> float:
    return metric(url, "scheduler_config_reloads_total", f'{{result="{result}"}}')


def statuses(url: str, count: int) -> list[int]:
    with httpx.Client(base_url=url, timeout=5) as client:
        return [client.get("/api/system/stats").status_code for _ in range(count)]


def test_a_saved_rate_limit_applies_and_a_bad_file_is_refused_while_serving(
    tmp_path: Path,
) -> None:
    base, over = tmp_path / "base.toml", tmp_path / "over.toml"
    base.write_text(BASE)
    over.write_text('[api]\ncors_origins = ["https://one.example"]\n')
    # The tests' own SCHEDULER_API__RATE_LIMIT_* would win over any file: not here.
    env = {k: v for k, v in base_env().items() if not k.startswith("SCHEDULER_API__")}
    env["SCHEDULER_DATABASE__URL"] = f"sqlite:///{tmp_path / 'var' / 'scheduler.db'}"
    command = (str(SCHEDULER), "up", "--config", str(base), "--config", str(over))
    proc = SchedulerProcess(workdir=tmp_path, env=env, command=command)
    proc.start()
    url = proc.url
    try:
        shown = httpx.get(f"{url}/api/system/config", timeout=5).json()
        assert shown["files"] == [str(base), str(over)] and shown["version"] == 1
        assert shown["settings"]["api"]["cors_origins"] == ["https://one.example"]
        assert set(statuses(url, 5)) == {200}

        # Saved: the watcher reloads, and the next requests meet a burst of 2.
        over.write_text(
            '[api]\ncors_origins = ["https://one.example"]\n'
            "rate_limit_per_second = 0.5\nrate_limit_burst = 2\n"
        )
        wait_until(lambda: metric(url, "scheduler_config_version") == 2, "the reload")
        codes = statuses(url, 4)
        assert codes[:2] == [200, 200] and 429 in codes[2:], codes
        assert reloads(url, "applied") == 1
        assert "version 2, changed: api.rate_limit_burst, api.rate_limit_per_second" in (
            proc.log_tail(100)
        )

        # Broken TOML: refused with its reason, the limit stays, the process lives.
        over.write_text("[api\nrate_limit_burst = 1000\n")
        wait_until(lambda: reloads(url, "refused") == 1, "the refusal")
        assert "configuration reload refused (file change)" in proc.log_tail(100)
        assert "invalid TOML" in proc.log_tail(100)

        # SIGHUP reads the same broken file: refused again, and the process is still alive.
        assert proc.process is not None
        proc.process.send_signal(signal.SIGHUP)
        wait_until(lambda: reloads(url, "refused") == 2, "the SIGHUP refusal")
        assert "configuration reload refused (SIGHUP)" in proc.log_tail(100)

        # A change that needs a restart: refused whole, the burst in it not applied either.
        over.write_text("[api]\nrate_limit_burst = 1000\nmax_body_bytes = 10\n")
        wait_until(lambda: reloads(url, "refused") == 3, "the restart refusal")
        assert "these keys change only with a restart: api.max_body_bytes" in proc.log_tail(100)
        assert metric(url, "scheduler_config_version") == 2
        assert 429 in statuses(url, 4)  # still the burst of 2

        # Fixed and signalled: SIGHUP applies it (or the watcher did first: same result).
        # Saved by rename, as editors do: a SIGHUP can never read it half written.
        fixed = tmp_path / "over.toml.new"
        fixed.write_text("[api]\nrate_limit_per_second = 1000\nrate_limit_burst = 1000\n")
        fixed.rename(over)
        proc.process.send_signal(signal.SIGHUP)
        wait_until(lambda: metric(url, "scheduler_config_version") == 3, "the fixed reload")
        time.sleep(0.1)  # the refilled buckets: new limits start full
        assert set(statuses(url, 10)) == {200}
        shown = httpx.get(f"{url}/api/system/config", timeout=5).json()
        assert shown["version"] == 3 and shown["settings"]["api"]["cors_origins"] == []
        assert shown["origins"]["api.rate_limit_burst"] == str(over)
        assert proc.process.poll() is None
    finally:
        assert proc.stop() == 0
