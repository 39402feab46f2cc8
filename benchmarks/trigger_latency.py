"""Single-trigger latency and rate from 8 clients against one `scheduler up` on PostgreSQL.

Run: `.venv/bin/python benchmarks/trigger_latency.py [--triggers M] [--clients C]`. A fresh
database, one shell task `true`, M `POST /api/tasks/{ref}/trigger` from C client threads as
fast as they are answered (each waits for its views: read-your-writes); prints triggers/s and
the client-side p50/p99. The runs are dispatched and executed in the same process meanwhile.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # benchmarks/ is not a package: found through sys.path
    create_task_over_http,
    fire_triggers,
    fresh_database,
    latency_summary,
    scheduler_up,
)


def main(argv: list[str] | None = None) -> int:
    """Measure and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--triggers", type=int, default=800)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    with fresh_database() as url, scheduler_up(url) as base:
        task_ref = create_task_over_http(base, "bench-latency")
        fire_triggers(base, task_ref, args.clients * 5, args.clients)  # warm-up
        burst = fire_triggers(base, task_ref, args.triggers, args.clients)
    result = {
        "triggers": args.triggers,
        "clients": args.clients,
        "per_second": round(args.triggers / burst.sent_in_s, 1),
        **latency_summary(burst.latencies),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
