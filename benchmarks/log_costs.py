"""What a log record costs the code that logs it: text or JSON to stderr, and shipped.

Run: `.venv/bin/python benchmarks/log_costs.py [--records 20000]`. In process, no server:
stderr is /dev/null and the shipper's sink a list. Prints microseconds per record in the
caller (the filters, the formatter, the queue), and until the shipper handed it on.
"""

from __future__ import annotations

import argparse
import logging
import time

from adapters.log_format import LogFieldsFilter, make_formatter
from adapters.log_redaction import RedactingFilter
from adapters.log_shipping import LogShipper
from application.log_context import log_context

RUN_ID = "6a1d6a0e-0000-4000-8000-000000000000"


def measure(log_format: str, ship: bool, records: int) -> tuple[float, float]:
    """(caller, until shipped) microseconds per info record with a run's context."""
    logger = logging.getLogger(f"bench.{log_format}.{ship}")
    logger.propagate, logger.level = False, logging.INFO
    with open("/dev/null", "w") as devnull:
        handlers: list[logging.Handler] = [logging.StreamHandler(devnull)]
        handlers[0].setFormatter(make_formatter(log_format))  # type: ignore[arg-type]
        shipped: list[dict[str, object]] = []
        shipper = LogShipper(shipped.extend, capacity=records + 10) if ship else None
        handlers += [shipper] if shipper else []
        redacting = RedactingFilter(["a-known-secret-1", "another-secret-2"])  # one, as installed
        for handler in handlers:
            handler.addFilter(LogFieldsFilter("worker"))
            handler.addFilter(redacting)
            logger.addHandler(handler)
        started = time.perf_counter()
        with log_context(run_id=RUN_ID, attempt=1):
            for _ in range(records):
                logger.info("attempt %s", "succeeded", extra={"action": "attempt_succeeded"})
        caller = time.perf_counter() - started
        if shipper is not None:
            shipper.drain(120)
            shipper.close()
        total = time.perf_counter() - started
        for handler in handlers:
            logger.removeHandler(handler)
    return caller / records * 1e6, total / records * 1e6


def main() -> None:
    """Print the cost of each way of logging."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    records = parser.parse_args().records
    for log_format, ship in (("text", False), ("json", False), ("json", True)):
        caller, total = measure(log_format, ship, records)
        print(f"{log_format:4} shipped={ship!s:5}  caller {caller:6.1f} us  total {total:6.1f} us")


if __name__ == "__main__":
    main()
