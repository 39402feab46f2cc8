"""Redis Streams bus adapter throughput: batched publish, then consume (and ack), messages/s.

Run: `.venv/bin/python benchmarks/bus_throughput.py [--quick] [--messages N]`. Two flows through
`adapters.redis_bus.RedisStreamsBus`, as the scheduler's processes use it:

- reports (worker → dispatchers): publish N `succeeded` reports, then `receive_reports` in
  batches of 1,000 on a consumer group and `ack_reports` each batch (XACK + XDEL);
- deliveries (dispatcher → worker): publish N deliveries to one worker's stream, then
  `receive_inbox` in batches of 1,000.

Publishing uses the bus's batch calls (`publish_reports`, `publish_inbox_messages`: one pipeline
per batch) when this build has them, else one XADD per message (`publish_report`,
`publish_delivery`); the JSON says which. Both go in rounds of 5,000 (publish, then consume),
as a worker's stream is trimmed to about 10,000 entries. Rates: publish-only, consume-only and
`combined` = N ÷ (publish + consume time), each the median of 3 repetitions on a fresh key
prefix whose keys are deleted afterwards. Target (issue 12): combined ≥ 50,000 messages/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from run import fresh_redis_prefix, log, machine_info, redis_url, write_results

from adapters.redis_bus import RedisStreamsBus
from application.messages import Delivery, Report
from entrypoints.heap import settle_heap

FULL_N = 200_000
QUICK_N = 20_000
BATCH = 1_000
ROUND = 5_000  # under INBOX_MAXLEN: a worker's stream is trimmed to about 10,000 entries
REPETITIONS = 3
TARGET = 50_000
WORKER = uuid.UUID(int=1)


def reports(n: int) -> list[Report]:
    """N final reports as a worker sends them."""
    now = datetime.now(UTC)
    return [
        Report("succeeded", uuid.uuid4(), 1, WORKER, exit_code=0, started_at=now) for _ in range(n)
    ]


def deliveries(n: int) -> list[Delivery]:
    """N deliveries of a callable to one worker."""
    return [
        Delivery(
            uuid.uuid4(), 1, WORKER, "bench", "callable", "entrypoints.examples.tasks:incr",
            params={"key": "bench:done"},
        )
        for _ in range(n)
    ]  # fmt: skip


def publisher(bus: RedisStreamsBus, batch_call: str, single_call: str) -> tuple[Callable, str]:
    """The batch publish if the bus has it, else a loop of single publishes; and which."""
    batched = getattr(bus, batch_call, None)
    if batched is not None:
        return batched, f"{batch_call} (one pipeline per {BATCH})"
    single = getattr(bus, single_call)

    def each(messages: Sequence[Any]) -> None:
        for message in messages:
            single(message)

    return each, f"{single_call} (one XADD per message)"


def timed_publish(publish: Callable, messages: Sequence[Any]) -> float:
    """Seconds to publish `messages` in slices of BATCH."""
    began = time.perf_counter()
    for start in range(0, len(messages), BATCH):
        publish(messages[start : start + BATCH])
    return time.perf_counter() - began


def consume_reports(bus: RedisStreamsBus, n: int) -> float:
    """Seconds to read and ack N reports in batches of BATCH."""
    began = time.perf_counter()
    seen = 0
    while seen < n:
        received = bus.receive_reports("bench", min(BATCH, n - seen), timeout=1.0)
        if not received:
            raise RuntimeError(f"only {seen}/{n} reports came back")
        bus.ack_reports([r.token for r in received])
        seen += len(received)
    return time.perf_counter() - began


def consume_inbox(bus: RedisStreamsBus, n: int) -> float:
    """Seconds to read N deliveries from the worker's stream in batches of BATCH."""
    began = time.perf_counter()
    seen = 0
    while seen < n:
        received = bus.receive_inbox(WORKER, min(BATCH, n - seen), timeout=1.0)
        if not received:
            raise RuntimeError(f"only {seen}/{n} deliveries came back")
        seen += len(received)
    return time.perf_counter() - began


def in_rounds(
    messages: Sequence[Any], publish: Callable, consume: Callable[[int], float]
) -> tuple[float, float]:
    """Publish then consume ROUND messages at a time (the streams are trimmed near 10,000)."""
    published = consumed = 0.0
    for start in range(0, len(messages), ROUND):
        chunk = messages[start : start + ROUND]
        published += timed_publish(publish, chunk)
        consumed += consume(len(chunk))
    return published, consumed


def one_flow(flow: str, n: int) -> dict[str, Any]:
    """One repetition of one flow on a fresh prefix."""
    with fresh_redis_prefix() as prefix:
        bus = RedisStreamsBus(redis_url(), prefix=prefix)
        try:
            if flow == "reports":
                publish, how = publisher(bus, "publish_reports", "publish_report")
                bus.receive_reports("bench", 1, timeout=0.01)  # create the group first
                published, consumed = in_rounds(
                    reports(n), publish, lambda k: consume_reports(bus, k)
                )
            else:
                publish, how = publisher(bus, "publish_inbox_messages", "publish_delivery")
                published, consumed = in_rounds(
                    deliveries(n), publish, lambda k: consume_inbox(bus, k)
                )
        finally:
            bus.close()
    return {
        "publish": how,
        "publish_per_s": round(n / published, 0),
        "consume_per_s": round(n / consumed, 0),
        "combined_per_s": round(n / (published + consumed), 0),
    }


def bench(flow: str, n: int) -> dict[str, Any]:
    """REPETITIONS of one flow; medians of each rate and every repetition."""
    reps = []
    for rep in range(1, REPETITIONS + 1):
        reps.append(one_flow(flow, n))
        log(f"  {flow} rep {rep}: {reps[-1]}")
    keys = ("publish_per_s", "consume_per_s", "combined_per_s")
    return {
        "messages": n,
        "publish": reps[0]["publish"],
        **{key: statistics.median(r[key] for r in reps) for key in keys},
        "target_combined_per_s": TARGET,
        "repetitions": reps,
    }


def run_bus(quick: bool, messages: int | None = None) -> dict[str, Any]:
    """Both flows; what run.py's `bus` group stores."""
    n = messages or (QUICK_N if quick else FULL_N)
    began = time.perf_counter()
    results: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine_info(with_redis=True),
        "benchmarks": {flow: bench(flow, n) for flow in ("reports", "deliveries")},
    }
    results["duration_s"] = round(time.perf_counter() - began, 1)
    return results


def bus_table(results: dict[str, Any]) -> str:
    """One line per flow."""
    lines = [
        f"Bus throughput (Redis {results['machine'].get('redis', '?')}), medians of "
        f"{REPETITIONS}, total {results['duration_s']:.0f}s"
    ]
    for flow, b in results["benchmarks"].items():
        verdict = "meets" if b["combined_per_s"] >= TARGET else "misses"
        rates = ", ".join(
            f"{what} {b[f'{what}_per_s']:,.0f}/s" for what in ("publish", "consume", "combined")
        )
        lines.append(
            f"  {flow}, N={b['messages']:,} via {b['publish']}: {rates} ({verdict} {TARGET:,}/s)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"N={QUICK_N:,} (default {FULL_N:,})")
    parser.add_argument("--messages", type=int, help="messages per flow and repetition")
    args = parser.parse_args(argv)
    if args.messages is not None and args.messages < 1:
        parser.error("--messages must be at least 1")
    settle_heap()  # as every scheduler process does once it has started
    results = run_bus(args.quick, args.messages)
    output = write_results("bus_throughput", results)
    print(bus_table(results))
    print(f"JSON: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
