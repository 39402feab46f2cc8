"""The distributed benchmark group on its own: `benchmarks/run.py --only distributed`.

Kept so `.venv/bin/python benchmarks/distributed.py [--quick]` (the command the top-level
README shows) still works; the benchmark itself lives in benchmarks/run.py. Every option of
run.py is accepted (`--quick`, `--trigger-timeout`, `--output`); results are merged into
benchmarks/results/latest.json under "distributed". See benchmarks/README.md.
"""

from __future__ import annotations

import sys

from run import main

if __name__ == "__main__":
    sys.exit(main([*sys.argv[1:], "--only", "distributed"]))
