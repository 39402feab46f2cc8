"""The Celery/Dramatiq side of benchmarks/peers.py: the shared peer harness, run from its own venv.

The harness (`../shared/peers/` from the project's root) is never imported here: it runs as a
subprocess with the peers' virtualenv's Python, so none of the peers' packages get near the
project's environment. The harness finds its tools at `<its folder>/.venv/bin`, so each call
copies the (possibly read-only) folder to a temporary directory and links `.venv` there to the
virtualenv given; the copy is deleted afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HARNESS = ROOT.parent / "shared" / "peers"
DEFAULT_VENV = Path.home() / ".cache" / "scheduler-bench" / "peers-venv"
HARNESS_ENV = "SCHEDULER_BENCH_PEERS_HARNESS"
VENV_ENV = "SCHEDULER_BENCH_PEERS_VENV"
PEERS = ("celery", "dramatiq")
TOOLS = ("python", "celery", "dramatiq")  # what the harness starts from <venv>/bin
# Per repetition the harness may wait 60 s for a quiet machine and retry a noisy run 3 times.
ATTEMPTS_PER_RUN = 4
QUIET_WAIT_S = 60.0


class PeersUnavailableError(Exception):
    """The harness or its virtualenv is missing; the message says how to set them up."""


@dataclass(frozen=True)
class Harness:
    """Where the harness's scripts and the peers' virtualenv are."""

    folder: Path
    venv: Path

    @classmethod
    def locate(cls, folder: str | None, venv: str | None) -> Harness:
        """From the options, else the environment, else the documented defaults."""
        return cls(
            folder=Path(folder or os.environ.get(HARNESS_ENV) or DEFAULT_HARNESS).expanduser(),
            venv=Path(venv or os.environ.get(VENV_ENV) or DEFAULT_VENV).expanduser(),
        )

    def check(self) -> None:
        """Raise PeersUnavailableError with set-up instructions unless both are usable."""
        if not (self.folder / "peer_bench.py").is_file():
            raise PeersUnavailableError(
                f"no peer harness at {self.folder} (peer_bench.py missing); pass "
                f"--peers-harness DIR or set {HARNESS_ENV}"
            )
        missing = [tool for tool in TOOLS if not (self.venv / "bin" / tool).exists()]
        if missing:
            raise PeersUnavailableError(
                f"the peers' virtualenv {self.venv} lacks {', '.join(missing)}. Create it "
                "(outside the project's own environment) with:\n"
                f"  python3 -m venv {self.venv}\n"
                f"  {self.venv}/bin/pip install -r {self.folder / 'requirements.txt'}\n"
                f"or pass --peers-venv DIR / set {VENV_ENV}"
            )

    def throughput(self, peer: str, n: int, runs: int, timeout: float) -> dict[str, Any]:
        """`peer_bench.py throughput`: its JSON result line (medians over `runs`)."""
        with tempfile.TemporaryDirectory(prefix="scheduler-bench-peers-") as scratch:
            copy = Path(scratch) / "peers"
            shutil.copytree(
                self.folder, copy, ignore=shutil.ignore_patterns(".venv", "results", "__pycache__")
            )
            (copy / ".venv").symlink_to(self.venv.resolve(), target_is_directory=True)
            out = Path(scratch) / "throughput.jsonl"
            command = [
                str(self.venv / "bin" / "python"),
                str(copy / "peer_bench.py"),
                "throughput",
                *("--peer", peer, "--n", str(n), "--runs", str(runs)),
                *("--timeout", str(timeout), "--out", str(out)),
            ]
            _run(command, copy, bound=runs * ATTEMPTS_PER_RUN * (QUIET_WAIT_S + timeout))
            return parse_result(out.read_text() if out.exists() else "", peer)


def _run(command: list[str], cwd: Path, bound: float) -> None:
    """Run the harness with its output on our stderr; SIGTERM it (it cleans up) on a timeout."""
    process = subprocess.Popen(command, cwd=cwd, stdout=sys.stderr, stderr=sys.stderr)
    try:
        code = process.wait(timeout=bound)
    except BaseException:
        process.send_signal(signal.SIGTERM)  # the harness stops its worker groups on SIGTERM
        process.wait(timeout=60)
        raise
    if code != 0:
        raise RuntimeError(f"the peer harness exited with code {code}: {' '.join(command)}")


def parse_result(jsonl: str, peer: str) -> dict[str, Any]:
    """The last throughput line of the harness's output for `peer`, checked and trimmed."""
    lines = [json.loads(line) for line in jsonl.splitlines() if line.strip()]
    rows = [row for row in lines if row.get("bench") == "throughput" and row.get("peer") == peer]
    if not rows:
        raise RuntimeError(f"the peer harness wrote no throughput result for {peer}")
    row = rows[-1]
    if not row["e2e_rate"].get("n"):
        raise RuntimeError(f"{peer}: no repetition finished (timed out): {row['runs']}")
    return {
        "peer": peer,
        "workers": row.get("workers"),
        "enqueue_mode": row.get("enqueue_mode"),
        "n": row["n"],
        "enqueue_rate": row["enqueue_rate"],
        "e2e_rate": row["e2e_rate"],
        "runs": row["runs"],
    }
