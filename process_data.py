"""The seed's example task, "处理每日数据" (process the daily data): a stand-in to replace.

The README's examples create a task with `"executor": "python"` and
`"command": "process_data.py"`. The python executor runs that path with the worker's Python,
relative to the worker's working directory; `make up` runs from the repository root, so this
file is the one it finds. It reads a CSV of `date,category,amount` rows (the file named by the
trigger param `input`, else the sample below), prints a summary, and exits 1 with the reason
when the data cannot be read. The run keeps what it prints as its `output`.
"""

from __future__ import annotations

import csv
import io
import os
import sys
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from pathlib import Path

SAMPLE = """date,category,amount
2026-01-01,orders,120.50
2026-01-01,refunds,-20.00
2026-01-01,orders,79.50
2026-01-01,fees,4.25
"""


def summarise(rows: list[dict[str, str]]) -> str:
    """A few lines: how many rows, the total, and the total per category."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        category, amount = row.get("category"), row.get("amount")
        if category is None or amount is None:
            raise ValueError(f"line {number}: the columns are date,category,amount")
        try:
            value = Decimal(amount)
        except InvalidOperation:
            value = Decimal("NaN")
        if not value.is_finite():
            raise ValueError(f"line {number}: amount {amount!r} is not a number")
        totals[category] += value
    lines = [f"processed {len(rows)} rows, total {sum(totals.values(), Decimal(0))}"]
    lines += [f"  {category}: {total}" for category, total in sorted(totals.items())]
    return "\n".join(lines)


def main() -> int:
    """Summarise the input; 0 when done, 1 with the reason when it cannot be read."""
    source = os.environ.get("SCHEDULER_PARAM_INPUT")
    try:
        text = SAMPLE if source is None else Path(source).read_text(encoding="utf-8")
        summary = summarise(list(csv.DictReader(io.StringIO(text))))
    except (OSError, ValueError) as error:
        print(f"process_data: cannot process {source}: {error}", file=sys.stderr)
        return 1
    run = os.environ.get("SCHEDULER_RUN_ID", "(not run by the scheduler)")
    print(f"run {run}: data from {source or 'the built-in sample'}")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
