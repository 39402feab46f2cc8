"""Suite-wide: the test processes cache their bytecode, whatever the shell says."""

from __future__ import annotations

import sys

import pytest

# PYTHONDONTWRITEBYTECODE (set on this machine and in many images) made every pytest worker
# rewrite and compile all test modules and the whole project again at collection: about
# 10 s of CPU per worker. __pycache__ is ignored by git. Processes the tests start are
# told the same in tests/e2e/conftest.py base_env().
sys.dont_write_bytecode = False

# The longest modules first, longest at the top (seconds each on the 2-core box with
# --durations, 2026-12-02). With `--dist loadfile` a module runs whole on one worker, so a long
# one that starts last sets the suite's end; started first, the short ones fill in around it.
LONGEST_FIRST = (
    "tests/e2e/test_report_order.py",  # 331
    "tests/e2e/test_distributed.py",  # 292
    "tests/e2e/test_projections_cli.py",  # 200
    "tests/e2e/test_auth.py",  # 187
    "tests/e2e/test_connection_budget.py",  # 184
    "tests/e2e/test_signals.py",  # 164
    "tests/e2e/test_api_fuzz.py",  # 150
    "tests/e2e/test_secrets.py",  # 145
    "tests/e2e/test_poison.py",  # 142
    "tests/e2e/test_worker_security.py",  # 101
    "tests/e2e/test_replay_cli.py",  # 78
    "tests/e2e/test_edge.py",  # 78
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the longest modules first; the rest keep their order (the sort is stable)."""
    rank = {module: place for place, module in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
