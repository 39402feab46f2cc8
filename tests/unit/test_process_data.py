"""The shipped `process_data.py`: the seed's example task summarises its data or says why not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "process_data.py"


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )


def test_without_input_it_summarises_the_built_in_sample_for_its_run() -> None:
    done = run({"SCHEDULER_RUN_ID": "r-1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "run r-1: data from the built-in sample",
        "processed 4 rows, total 184.25",
        "  fees: 4.25",
        "  orders: 200.00",
        "  refunds: -20.00",
    ]


def test_the_input_param_names_a_csv_file_to_summarise(tmp_path: Path) -> None:
    data = tmp_path / "day.csv"
    data.write_text("date,category,amount\n2026-01-02,orders,10\n2026-01-02,orders,5.5\n")
    done = run({"SCHEDULER_PARAM_INPUT": str(data)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[1:] == ["processed 2 rows, total 15.5", "  orders: 15.5"]


def test_data_it_cannot_read_fails_the_run_with_the_reason(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("date,category,amount\n2026-01-02,orders,ten\n")
    bad = run({"SCHEDULER_PARAM_INPUT": str(data)})
    assert bad.returncode == 1 and "line 2: amount 'ten' is not a number" in bad.stderr
    missing = run({"SCHEDULER_PARAM_INPUT": str(tmp_path / "absent.csv")})
    assert missing.returncode == 1 and "No such file" in missing.stderr
    columns = tmp_path / "columns.csv"
    columns.write_text("date,amount\n2026-01-02,1\n")
    wrong = run({"SCHEDULER_PARAM_INPUT": str(columns)})
    assert wrong.returncode == 1 and "the columns are date,category,amount" in wrong.stderr
