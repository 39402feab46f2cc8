"""Executors run one attempt of a task: a child process with a clean environment, an HTTP
request, or a call inside the worker (`callable`)."""

from __future__ import annotations

from adapters.executors.callable import CallableExecutor
from adapters.executors.environment import SAFE_PATH, child_environment, param_variable
from adapters.executors.http import HttpExecutor
from adapters.executors.model import (
    ExecutionRequest,
    ExecutionResult,
    Executor,
    UnknownExecutorError,
)
from adapters.executors.output_tail import OutputTail
from adapters.executors.process import (
    ProcessExecutor,
    PythonExecutor,
    ShellExecutor,
    describe_exit,
)
from adapters.executors.process_group import live_group_members
from adapters.executors.registry import ExecutorRegistry, default_executors

__all__ = [
    "SAFE_PATH",
    "CallableExecutor",
    "ExecutionRequest",
    "ExecutionResult",
    "Executor",
    "ExecutorRegistry",
    "HttpExecutor",
    "OutputTail",
    "ProcessExecutor",
    "PythonExecutor",
    "ShellExecutor",
    "UnknownExecutorError",
    "child_environment",
    "default_executors",
    "describe_exit",
    "live_group_members",
    "param_variable",
]
