"""Strict input: what would be silently accepted or crash on parsing is refused, naming it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Body, FastAPI, Query
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from application.commands.app import SchedulerApp
from domain.context import CommandContext
from domain.errors import InvalidFieldError
from entrypoints.api.app import _ensure_strict
from entrypoints.api.errors import install_error_handlers
from entrypoints.api.middleware import _declares_more
from entrypoints.api.schemas import RunningAttempt, TaskUpdate, WorkerRegister
from entrypoints.api.strict import StrictRoute
from entrypoints.api.strict_json import StrictJsonError, parse_json
from entrypoints.api.tasks import _expected_version
from projections.references import task_number
from tests.unit.conftest import make_spec


def problems_of(body: bytes) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(StrictJsonError) as raised:
        parse_json(body)
    return [(p.path, p.message) for p in raised.value.problems]


def test_duplicate_keys_are_refused_at_any_depth_naming_the_path() -> None:
    assert problems_of(b'{"name": "a", "name": "b"}') == [
        (("name",), "duplicate key 'name' in a JSON object")
    ]
    [(path, _)] = problems_of(b'{"http": {"headers": [{"a": 1, "a": 1}]}}')
    assert path == ("http", "headers", 0, "a")


@pytest.mark.parametrize(
    "number", [b"9" * 5_000, b"-" + b"9" * 5_000, b"9223372036854775808", b"1" + b"0" * 25]
)
def test_integers_beyond_64_bits_are_refused_naming_the_field(number: bytes) -> None:
    [(path, message)] = problems_of(b'{"retry_count": ' + number + b"}")
    assert path == ("retry_count",) and "out of range" in message


def test_nan_infinity_and_malformed_json_are_refused() -> None:
    assert problems_of(b'{"retry_backoff": NaN}')[0][0] == ("retry_backoff",)
    assert problems_of(b"[Infinity]")[0][0] == (0,)
    assert "invalid JSON" in problems_of(b"{not json")[0][1]
    assert "too deeply" in problems_of(b"[" * 100_000 + b"]" * 100_000)[0][1]


def test_ordinary_json_parses_as_usual() -> None:
    body = b'{"a": [1, -9223372036854775807, 2.5, "x", null, true], "b": {"c": {}}}'
    assert parse_json(body) == {
        "a": [1, -9223372036854775807, 2.5, "x", None, True],
        "b": {"c": {}},
    }


class Item(BaseModel):
    """A toy body."""

    count: int = 0


def toy_api() -> FastAPI:
    api = FastAPI()
    api.router.route_class = StrictRoute
    install_error_handlers(api)

    @api.post("/items")
    def create(
        item: Item,
        state: Annotated[str | None, Query(alias="status")] = None,
        tags: Annotated[list[str] | None, Query()] = None,
    ) -> dict[str, Any]:
        return {"count": item.count, "status": state, "tags": tags}

    @api.post("/embedded")
    def embedded(version: Annotated[int, Body(embed=True)]) -> dict[str, int]:
        return {"version": version}

    return api


def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=toy_api())
        async with httpx.AsyncClient(transport=transport, base_url="http://toy") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(send())


def test_an_undeclared_query_parameter_is_a_422_naming_it() -> None:
    response = call("POST", "/items?dry_run=true&status=x", json={"count": 1})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["dry_run"]
    assert "unknown query parameter 'dry_run'" in response.json()["detail"]


def test_declared_parameters_by_alias_and_lists_are_accepted() -> None:
    response = call("POST", "/items?status=x&tags=a&tags=b", json={"count": 1})
    assert response.json() == {"count": 1, "status": "x", "tags": ["a", "b"]}


def test_a_single_valued_parameter_given_twice_is_a_422() -> None:
    response = call("POST", "/items?status=a&status=b", json={})
    assert response.status_code == 422 and "given 2 times" in response.json()["detail"]


def test_the_route_sees_no_duplicate_key_and_no_overlong_number() -> None:
    headers = {"Content-Type": "application/json"}
    duplicate = call("POST", "/items", content=b'{"count": 1, "count": 2}', headers=headers)
    assert duplicate.status_code == 422 and duplicate.json()["errors"][0]["field"] == "count"
    long = call("POST", "/embedded", content=b'{"version": ' + b"7" * 5000 + b"}", headers=headers)
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "version"


def test_an_app_with_a_route_that_is_not_strict_refuses_to_start() -> None:
    api = FastAPI()
    api.router.routes.append(APIRoute("/loose", lambda: None))
    with pytest.raises(RuntimeError, match="/loose"):
        _ensure_strict(api)


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (TaskUpdate, {"retry_count": True}, "retry_count"),
        (TaskUpdate, {"timeout_seconds": False}, "timeout_seconds"),
        (TaskUpdate, {"retry_backoff": True}, "retry_backoff"),
        (TaskUpdate, {"http": {"expected_status": [True]}}, "http"),
        (WorkerRegister, {"name": "w", "max_concurrent_tasks": True}, "max_concurrent_tasks"),
        (RunningAttempt, {"run_id": "0" * 32, "attempt": True}, "attempt"),
        (RunningAttempt, {"run_id": "0" * 32, "attempt": 2**40}, "attempt"),
    ],
)
def test_booleans_are_not_numbers_in_any_request_schema(
    model: type[BaseModel], body: dict, field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(body)
    assert raised.value.errors()[0]["loc"][0] == field


def test_a_worker_registered_over_http_must_offer_known_executors() -> None:
    with pytest.raises(ValidationError, match="unknown executor 'docker'"):
        WorkerRegister.model_validate({"name": "w", "executors": ["shell", "docker"]})
    ok = WorkerRegister.model_validate({"name": "w", "executors": ["http", "http", "shell"]})
    assert ok.executors == ["http", "shell"]


def test_labels_are_bounded_in_count_and_size() -> None:
    with pytest.raises(ValidationError, match="at most 64"):
        TaskUpdate.model_validate({"labels": {f"k{i}": "v" for i in range(65)}})
    with pytest.raises(ValidationError):
        WorkerRegister.model_validate({"name": "w", "labels": {"k" * 64: "v"}})
    TaskUpdate.model_validate({"labels": {f"k{i}": "v" * 200 for i in range(64)}})


def test_overlong_task_numbers_and_versions_are_a_422_not_a_crash() -> None:
    with pytest.raises(InvalidFieldError, match=r"ref: task number .*5000 digits"):
        task_number("9" * 5_000)
    with pytest.raises(InvalidFieldError, match="task"):
        task_number("2147483648", field="task")
    assert task_number("0042") == 42
    with pytest.raises(InvalidFieldError, match="If-Match"):
        _expected_version("9" * 5_000)
    with pytest.raises(InvalidFieldError, match="If-Match: version 2147483648"):
        _expected_version('W/"2147483648"')
    assert _expected_version('"3"') == 3


def test_a_declared_length_of_thousands_of_digits_is_simply_too_large() -> None:
    assert _declares_more(b"9" * 5_000, 1_048_576)
    assert _declares_more(b"0" * 5_000 + b"1048577", 1_048_576)
    assert not _declares_more(b"0" * 5_000 + b"10", 1_048_576)


def test_an_idempotency_key_repeated_with_other_params_is_refused_naming_it(
    app: SchedulerApp, ctx: CommandContext
) -> None:
    task_id = app.create_task(make_spec(), ctx).aggregate_id
    first = app.trigger_task(task_id, ctx, params={"DAY": "1"}, idempotency_key="k")
    again = app.trigger_task(task_id, ctx, params={"DAY": "1"}, idempotency_key="k")
    assert (again.aggregate_id, again.created) == (first.aggregate_id, False)
    head = app.head_position()
    with pytest.raises(InvalidFieldError, match="Idempotency-Key: 'k' was already used"):
        app.trigger_task(task_id, ctx, params={"DAY": "2"}, idempotency_key="k")
    with pytest.raises(InvalidFieldError, match="Idempotency-Key"):
        app.trigger_task(task_id, ctx, idempotency_key="k")
    assert app.head_position() == head  # nothing recorded
