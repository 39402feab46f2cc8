"""The scheduler against Celery and Dramatiq, same work, same machine, one invocation.

Run: `.venv/bin/python benchmarks/peers.py [--n 20000] [--repeat 3] [--quick]`. First the
distributed deployment (api + projector + dispatcher + 2 workers on PostgreSQL and Redis
Streams) runs N no-op `callable` runs whose body is one Redis `INCR`, enqueued with the bulk
endpoint, then single triggers from 8 clients; then Celery and Dramatiq run the same N tasks
through the shared peer harness in their own virtualenv. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from peers_harness import PEERS, Harness, PeersUnavailableError
from peers_ours import Work, run_ours
from run import CALLABLE_ENV, distributed_cluster, log, machine_info, write_results

SYSTEMS = ("ours", *PEERS)
FULL = {"n": 20_000, "single_m": 2_000}
QUICK = {"n": 2_000, "single_m": 400}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line; sizes default to FULL (QUICK with --quick)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=2,000, 400 single triggers")
    parser.add_argument("--n", type=int, help="runs per repetition (default 20,000)")
    parser.add_argument("--single", type=int, help="single triggers per repetition (2,000)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; medians (default 3)")
    parser.add_argument("--clients", type=int, default=8, help="single-trigger clients (8)")
    parser.add_argument(
        "--executor",
        choices=("callable", "shell"),
        default="callable",
        help="ours: the callable entrypoints.examples.tasks:incr (default), or a shell "
        "`redis-cli INCR` (a fallback for builds without the callable executor)",
    )
    parser.add_argument(
        "--enqueue",
        choices=("bulk", "single"),
        default="bulk",
        help="ours: POST …/trigger/batch in 1,000s (default), or single triggers from "
        "--clients clients (a fallback for builds without the bulk endpoint)",
    )
    parser.add_argument(
        "--systems", default=",".join(SYSTEMS), help=f"comma list of {', '.join(SYSTEMS)}"
    )
    parser.add_argument("--peers-venv", help="the peers' virtualenv (see README)")
    parser.add_argument("--peers-harness", help="the peer harness folder (see README)")
    parser.add_argument("--timeout", type=float, default=600.0, help="per repetition (600 s)")
    parser.add_argument("--output", type=Path, help="JSON (default results/peers-<time>.json)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    args.n = args.n or sizes["n"]
    args.single = args.single or sizes["single_m"]
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown or not args.systems:
        parser.error(f"--systems: unknown {', '.join(unknown) or '(none given)'}")
    if args.n < 1 or args.single < 1 or args.repeat < 1 or args.clients < 1:
        parser.error("--n, --single, --repeat and --clients must be at least 1")
    return args


def measure_ours(args: argparse.Namespace) -> dict[str, Any]:
    """Our side on one fresh cluster (database and Redis prefix dropped afterwards)."""
    work = Work(args.n, args.executor, args.enqueue, args.single, args.clients, args.timeout)
    extra = CALLABLE_ENV if args.executor == "callable" else {}
    with distributed_cluster(extra) as cluster:
        return {
            "executor": args.executor,
            "enqueue": args.enqueue,
            **run_ours(cluster, work, args.repeat),
        }


def ratio(ours: dict[str, Any], peer: dict[str, Any] | None) -> float | None:
    """Our median end-to-end rate over the peer's, or None without both."""
    if not peer or not ours or not peer["e2e_rate"].get("median"):
        return None
    return round(ours["e2e_rate"]["median"] / peer["e2e_rate"]["median"], 3)


def table(results: dict[str, Any]) -> str:
    """Enqueue and end-to-end medians per system, ratios, and our single triggers."""
    systems = results["systems"]
    ours = systems.get("ours")
    rows = [("system", "enqueue/s", "end-to-end runs/s (min–max)", "÷ celery", "÷ dramatiq")]
    for name, found in systems.items():
        e2e = found["e2e_rate"]
        label = f"scheduler ({found['executor']}, {found['enqueue']})" if name == "ours" else name
        rows.append(
            (
                label,
                f"{found['enqueue_rate']['median']:,.0f}",
                f"{e2e['median']:,.0f} ({e2e['min']:,.0f}–{e2e['max']:,.0f})",
                *(_times(ratio(found, systems.get(peer))) for peer in PEERS),
            )
        )
    machine = results["machine"]
    lines = [
        f"Peers: N={results['n']:,} one-INCR runs, medians of {results['repeat']} — "
        f"nproc={machine['nproc']}, load avg {machine['load_average'][0]} at start, "
        f"total {results['duration_s']:.0f}s",
        *_aligned(rows),
    ]
    if ours:
        single = ours["runs"][0]["single"]
        lines.append(
            f"single POST …/trigger, {single['triggers']:,} from {single['clients']} clients: "
            f"{ours['single_rate']['median']:,.0f}/s, "
            f"p50 {ours['single_p50_ms']['median']:.1f} ms, "
            f"p99 {ours['single_p99_ms']['median']:.1f} ms "
            f"(medians of {ours['single_rate']['n']})"
        )
    return "\n".join(lines)


def _times(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}×"


def _aligned(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    harness = Harness.locate(args.peers_harness, args.peers_venv)
    peers = [s for s in args.systems if s in PEERS]
    if peers:
        try:
            harness.check()
        except PeersUnavailableError as problem:
            print(f"peers.py: {problem}", file=sys.stderr)
            return 2
    began = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "n": args.n,
        "repeat": args.repeat,
        "machine": machine_info(with_redis=True),
        "systems": {},
    }
    if "ours" in args.systems:
        results["systems"]["ours"] = measure_ours(args)
    for peer in peers:
        log(f"{peer}: {args.n} no-op tasks × {args.repeat} through {harness.folder}")
        results["systems"][peer] = harness.throughput(peer, args.n, args.repeat, args.timeout)
    results["ratios"] = {
        peer: ratio(results["systems"].get("ours", {}), results["systems"].get(peer))
        for peer in peers
    }
    results["duration_s"] = round(time.perf_counter() - began, 1)
    output = write_results("peers", results, args.output)
    print(table(results))
    print(f"JSON: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
