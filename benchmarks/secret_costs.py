"""What secrets cost: sealing and opening a value (AES-GCM), masking 64 KiB of task output.

Run: `.venv/bin/python benchmarks/secret_costs.py [--repeat 5]`. In process, no server; prints
the median of the repetitions for each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit

from adapters.aes_secret_box import AesGcmSecretBox
from domain.secrets import Redactor, mask_text

SECRET = "hunter2-" + "x" * 24  # a 32-character password
OUTPUT = ("line of task output with token=abc123 and password=hunter2\n" * 1100)[: 64 * 1024]


def per_call(statement: object, number: int, repeat: int) -> float:
    """The median seconds per call over `repeat` timings of `number` calls."""
    times = timeit.repeat(statement, number=number, repeat=repeat)  # type: ignore[arg-type]
    return statistics.median(times) / number


def main() -> None:
    """Print the median cost of each operation."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    box = AesGcmSecretBox([os.urandom(32)])
    sealed = box.seal(SECRET, "task:env:DB_PASSWORD")
    redactor = Redactor(["hunter2", "abc123", SECRET, "Bearer tok-9f8e7d6c"])  # a task's secrets
    rows = [
        ("seal one value", per_call(lambda: box.seal(SECRET, "ctx"), 20_000, repeat)),
        (
            "open one value",
            per_call(lambda: box.open(sealed, "task:env:DB_PASSWORD"), 20_000, repeat),
        ),
        # What runs' output goes through: every known secret value, in its encoded forms too.
        ("redact 64 KiB of output", per_call(lambda: redactor.apply(OUTPUT), 200, repeat)),
        # Free text (errors, log lines): every `name=value` with a secret-looking name. This
        # OUTPUT has two on every line, far denser than real output.
        ("mask_text 64 KiB", per_call(lambda: mask_text(OUTPUT), 50, repeat)),
    ]
    for name, seconds in rows:
        print(f"{name:<26} {seconds * 1e6:10.1f} µs")


if __name__ == "__main__":
    main()
