"""The callable executor: functions called in-process, on shared threads and one loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import orjson
import pytest

from adapters.executors.call_pool import CallPool
from adapters.executors.callable import CallableExecutor
from adapters.executors.callable_target import CallableTargets
from adapters.executors.model import ExecutionRequest, ExecutionResult
from domain.task_spec import SpecValidationError, validate_spec
from tests.unit import callable_jobs

JOBS = "tests.unit.callable_jobs"


@pytest.fixture
def executor() -> Iterator[CallableExecutor]:
    made = CallableExecutor(CallableTargets([JOBS]), CallPool(2), output_limit=100)
    yield made
    callable_jobs.release.set()
    made.close()
    callable_jobs.release.clear()


def request(
    function: str, *args: str, timeout: float | None = None, **params: str
) -> ExecutionRequest:
    return ExecutionRequest(
        run_id=f"run-{function}-{time.monotonic_ns()}",
        attempt=1,
        executor="callable",
        command=function if ":" in function else f"{JOBS}:{function}",
        args=args,
        params=params,
        timeout_seconds=timeout,
    )


def begin(executor: CallableExecutor, req: ExecutionRequest) -> list[ExecutionResult]:
    results: list[ExecutionResult] = []
    executor.begin(req, lambda _pid: None, results.append)
    return results


def wait_for(results: list[ExecutionResult], timeout: float = 3.0) -> ExecutionResult:
    deadline = time.monotonic() + timeout
    while not results:
        assert time.monotonic() < deadline, "no result"
        time.sleep(0.005)
    return results[0]


def test_args_are_positional_and_params_keyword_and_the_value_is_json(
    executor: CallableExecutor,
) -> None:
    started: list[int] = []
    result = executor.execute(request("add", "2", "3", scale="10"), started.append)
    assert result.succeeded and result.exit_code == 0
    assert orjson.loads(result.output) == 50
    assert started and started[0] == result.pid


def test_a_coroutine_function_runs_on_the_loop(executor: CallableExecutor) -> None:
    result = executor.execute(request("async_add", "4", "5"))
    assert result.succeeded and result.output == "9"
    assert executor.pool.threads_started == 0  # no pool thread was needed


def test_a_value_that_is_not_json_is_recorded_as_its_repr_and_says_so(
    executor: CallableExecutor,
) -> None:
    result = executor.execute(request("unserialisable"))
    assert result.succeeded
    assert result.output.startswith("[return value is not JSON-serialisable (set); repr:]\n")
    assert "{1, 2}" in result.output


def test_a_long_value_is_capped_at_the_output_limit(executor: CallableExecutor) -> None:
    result = executor.execute(request("big", "1000"))
    assert result.output.startswith('"' + "x" * 99)
    assert result.output.endswith("[... 902 bytes truncated ...]")


@pytest.mark.parametrize(
    ("function", "summary", "frame"),
    [
        ("broken", "ValueError: bad input: 42", "in broken"),
        ("async_broken", "KeyError: 'missing'", "in async_broken"),
        ("leaves", "SystemExit: 3", "in leaves"),
    ],
)
def test_an_exception_is_the_error_with_its_type_message_and_traceback(
    executor: CallableExecutor, function: str, summary: str, frame: str
) -> None:
    result = executor.execute(request(function))
    assert not result.succeeded and result.exit_code == 1
    assert result.error is not None
    assert result.error.startswith(summary + "\n")
    assert "Traceback (most recent call last)" in result.error and frame in result.error
    assert "_call\n" not in result.error and "_await\n" not in result.error  # not our frames


def test_a_sync_call_past_its_timeout_ends_at_once_and_its_thread_is_replaced(
    executor: CallableExecutor,
) -> None:
    started = time.monotonic()
    result = executor.execute(request("blocked", timeout=0.2))
    assert result.timed_out and result.error == "timed out after 0.2s"
    assert time.monotonic() - started < 1.0
    assert executor.orphaned_threads == 1
    # The slot is back: two more calls run at once beside the stuck thread (pool size 2).
    both = [begin(executor, request("add", "1", "1")) for _ in range(2)]
    assert [wait_for(r).output for r in both] == ["2", "2"]
    callable_jobs.release.set()
    deadline = time.monotonic() + 3
    while executor.orphaned_threads:
        assert time.monotonic() < deadline, "the orphan never left"
        time.sleep(0.01)
    assert executor.pool.threads_started == 3  # two at start, one replacement, none per call


def test_an_async_call_past_its_timeout_is_cancelled(executor: CallableExecutor) -> None:
    result = executor.execute(request("async_forever", timeout=0.1, tag="t1"))
    assert result.timed_out
    deadline = time.monotonic() + 2
    while "cancelled t1" not in callable_jobs.async_calls:
        assert time.monotonic() < deadline, "the task was never cancelled"
        time.sleep(0.01)


def test_cancel_ends_a_sync_call_and_frees_its_slot(executor: CallableExecutor) -> None:
    req = request("blocked")
    results = begin(executor, req)
    time.sleep(0.05)
    assert executor.cancel(req.run_id, req.attempt)
    result = wait_for(results)
    assert result.error == "cancelled" and not result.timed_out and not result.succeeded
    assert executor.orphaned_threads == 1
    assert not executor.cancel(req.run_id, req.attempt)  # over: nothing to cancel


def test_cancel_cancels_an_async_task(executor: CallableExecutor) -> None:
    req = request("async_forever", tag="t2")
    results = begin(executor, req)
    time.sleep(0.05)
    assert executor.cancel(req.run_id, req.attempt)
    assert wait_for(results).error == "cancelled"
    deadline = time.monotonic() + 2
    while "cancelled t2" not in callable_jobs.async_calls:
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ("os:getcwd", "module 'os' is not in [worker] callable_modules (tests.unit.callable_jobs)"),
        ("tests.unit.callable_jobs_x:add", "not in [worker] callable_modules"),
        ("tests.unit.callable_jobs:missing", "no attribute 'missing'"),
        ("tests.unit.callable_jobs:not_a_function", "is not callable"),
        ("tests.unit.callable_jobs.nope:add", "cannot import 'tests.unit.callable_jobs.nope'"),
        ("no colon", "is not package.module:function"),
    ],
)
def test_a_forbidden_or_missing_function_fails_the_run_clearly(
    executor: CallableExecutor, command: str, message: str
) -> None:
    result = executor.execute(request(command))
    assert not result.succeeded and result.exit_code is None
    assert result.error is not None and message in result.error


def test_many_calls_share_the_pool_threads(executor: CallableExecutor) -> None:
    results = [begin(executor, request("add", str(i), "0")) for i in range(200)]
    assert sorted(int(wait_for(r).output) for r in results) == list(range(200))
    assert executor.pool.threads_started == 2
    assert threading.active_count() < 20


@pytest.mark.parametrize("command", ["jobs:run", "my_app.jobs.v2:Nightly.run"])
def test_a_callable_task_names_a_module_and_a_function(command: str) -> None:
    assert validate_spec({"name": "c", "executor": "callable", "command": command})


@pytest.mark.parametrize("command", ["jobs", "jobs:", ":run", "jobs:run()", "../x:y", "a b:c"])
def test_a_callable_command_of_another_form_is_refused_at_create_time(command: str) -> None:
    with pytest.raises(SpecValidationError) as refused:
        validate_spec({"name": "c", "executor": "callable", "command": command})
    ((field, message),) = refused.value.problems
    assert field == "command"
    assert "executor 'callable' needs" in message and "is not package.module:function" in message
