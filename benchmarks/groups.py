"""The seed's table as run.py groups: each runs one benchmark script and renders its result.

`concurrency`, `many_workers`, `bus` and `memory` are called in-process; `cron` and `rebuild`
run their scripts (benchmarks/cron_lateness.py, benchmarks/rebuild.py) as subprocesses, which
write their own JSON files and print their results.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bus_throughput import bus_table, run_bus
from concurrency import concurrency_table, run_concurrency
from many_workers import many_workers_table, run_many_workers
from memory import memory_table, run_memory

HERE = Path(__file__).resolve().parent
CRON_FULL = ["--tasks", "1000", "--minutes", "2", "--fire-tasks", "5000"]
CRON_QUICK = ["--quick"]
REBUILD_FULL = ["--events", "200000"]
REBUILD_QUICK = ["--events", "20000"]
MEDIAN = re.compile(r"median ([\d,]+)")


def script(name: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run benchmarks/<name> with this Python; its progress stays on stderr."""
    command = [sys.executable, str(HERE / name), *args]
    return subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)


def run_cron(quick: bool, _timeout: float) -> dict[str, Any]:
    """benchmarks/cron_lateness.py; its JSON, with the command."""
    args = CRON_QUICK if quick else CRON_FULL
    done = script("cron_lateness.py", args)
    result = json.loads(done.stdout) if done.stdout.strip() else {}
    return {"command": ["cron_lateness.py", *args], "exit_code": done.returncode, **result}


def run_rebuild(quick: bool, _timeout: float) -> dict[str, Any]:
    """benchmarks/rebuild.py; its printed median rate, with the command."""
    args = REBUILD_QUICK if quick else REBUILD_FULL
    done = script("rebuild.py", args)
    found = MEDIAN.search(done.stdout)
    return {
        "command": ["rebuild.py", *args],
        "exit_code": done.returncode,
        "median_events_per_s": int(found.group(1).replace(",", "")) if found else None,
        "output": done.stdout.strip(),
    }


def cron_table(results: dict[str, Any]) -> str:
    """Fire and start lateness over every counted minute."""
    overall = results.get("lateness", {}).get("overall", {})
    lines = [f"Cron lateness ({' '.join(results['command'])}), exit {results['exit_code']}"]
    for key in ("fire_lateness", "start_lateness"):
        stats = overall.get(key)
        if stats:
            lines.append(f"  {key}: p50 {stats['p50_ms']:.0f} ms, p99 {stats['p99_ms']:.0f} ms")
    return "\n".join(lines)


def rebuild_table(results: dict[str, Any]) -> str:
    """The rebuild script's own lines."""
    return f"Projection rebuild ({' '.join(results['command'])}):\n{results['output']}"


RUNNERS: dict[str, Callable[[bool, float], dict[str, Any]]] = {
    "concurrency": lambda quick, _timeout: run_concurrency(quick),
    "many_workers": lambda quick, _timeout: run_many_workers(quick),
    "bus": lambda quick, _timeout: run_bus(quick),
    "cron": run_cron,
    "memory": lambda quick, _timeout: run_memory(quick),
    "rebuild": run_rebuild,
}
TABLES: dict[str, Callable[[dict[str, Any]], str]] = {
    "concurrency": concurrency_table,
    "many_workers": many_workers_table,
    "bus": bus_table,
    "cron": cron_table,
    "memory": memory_table,
    "rebuild": rebuild_table,
}
