"""Suite-wide: the test processes cache their bytecode, whatever the shell says."""

from __future__ import annotations

import sys

# PYTHONDONTWRITEBYTECODE (set on this machine and in many images) made every pytest worker
# rewrite and compile all test modules and the whole project again at collection: about
# 10 s of CPU per worker. __pycache__ is ignored by git. Processes the tests start are
# told the same in tests/e2e/conftest.py base_env().
sys.dont_write_bytecode = False
