"""The pure parts of the benchmarks: the run check, the harness's result, ratios, overlap."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# benchmarks/ is a folder of scripts importing each other by name, not a package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from concurrency import peak_overlap
from peers import ratio
from peers_harness import Harness, PeersUnavailableError, parse_result
from peers_ours import missing_events, spread
from run import write_results

RUN = "domain.task_run:TaskRun"


def test_a_run_with_its_four_events_has_no_gap() -> None:
    topics = {"a": [f"{RUN}.Requested", f"{RUN}.Assigned", f"{RUN}.Started", f"{RUN}.Succeeded"]}
    assert missing_events(topics, ["a"]) == {}


def test_missing_events_name_each_gap_and_runs_absent_from_the_log() -> None:
    topics = {"a": [f"{RUN}.Requested", f"{RUN}.Assigned", f"{RUN}.Succeeded"]}
    assert missing_events(topics, ["a", "b"]) == {
        "a": ["Started"],
        "b": ["Requested", "Assigned", "Started", "Succeeded"],
    }


def test_a_similar_name_is_not_the_event() -> None:
    topics = {"a": [f"{RUN}.Requested", f"{RUN}.Assigned", f"{RUN}.Started", f"{RUN}.NotSucceeded"]}
    assert missing_events(topics, ["a"]) == {"a": ["Succeeded"]}


def _line(peer: str, rates: list[float | None]) -> str:
    kept = [r for r in rates if r is not None]
    summary = {"median": kept[len(kept) // 2], "n": len(kept)} if kept else {"median": None, "n": 0}
    return json.dumps(
        {
            "bench": "throughput",
            "peer": peer,
            "n": 100,
            "runs": [{"e2e_rate": r} for r in rates],
            "enqueue_rate": summary,
            "e2e_rate": summary,
        }
    )


def test_the_harness_result_is_the_last_line_of_that_peer() -> None:
    text = "\n".join([_line("celery", [1.0]), _line("dramatiq", [5.0]), _line("celery", [2.0])])
    assert parse_result(text, "celery")["e2e_rate"]["median"] == 2.0


def test_a_harness_result_where_every_run_timed_out_fails() -> None:
    with pytest.raises(RuntimeError, match="timed out"):
        parse_result(_line("celery", [None, None]), "celery")


def test_no_result_for_the_peer_fails() -> None:
    with pytest.raises(RuntimeError, match="no throughput result for dramatiq"):
        parse_result(_line("celery", [1.0]), "dramatiq")


def test_ratio_is_ours_over_the_peer_and_absent_without_a_peer() -> None:
    ours = {"e2e_rate": spread([300.0, 100.0, 200.0])}
    assert ours["e2e_rate"] == {"median": 200.0, "min": 100.0, "max": 300.0, "n": 3}
    assert ratio(ours, {"e2e_rate": {"median": 400.0}}) == 0.5
    assert ratio(ours, None) is None


def test_a_missing_venv_says_how_to_create_it(tmp_path: Path) -> None:
    (tmp_path / "peer_bench.py").write_text("")
    harness = Harness(folder=tmp_path, venv=tmp_path / "venv")
    with pytest.raises(PeersUnavailableError, match=r"(?s)python3 -m venv .*pip install -r"):
        harness.check()


def test_peak_overlap_counts_runs_holding_at_one_moment() -> None:
    assert peak_overlap([(0, 10), (1, 11), (2, 12)]) == 3
    assert peak_overlap([(0, 1), (1, 2), (2, 3)]) == 1  # one ends as the next starts
    assert peak_overlap([(0, 5), (6, 8), (7, 9)]) == 2


def test_write_results_names_the_file_by_benchmark_and_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import run

    monkeypatch.setattr(run, "RESULTS", tmp_path / "results")
    path = write_results("memory", {"tasks": 3})
    assert path.parent == tmp_path / "results"
    assert path.name.startswith("memory-") and path.name.endswith("Z.json")
    assert json.loads(path.read_text()) == {"tasks": 3}


def test_write_results_writes_to_a_given_path(tmp_path: Path) -> None:
    path = write_results("peers", {"n": 1}, tmp_path / "deep" / "out.json")
    assert path == tmp_path / "deep" / "out.json"
    assert json.loads(path.read_text()) == {"n": 1}
