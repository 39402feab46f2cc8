"""Concurrency keys: at most N runs per rendered key out at once, keys taken in turn."""

from __future__ import annotations

from typing import Any

import pytest

from application.dispatch.concurrency_keys import KEY_WAIT
from application.dispatch.entries import OpenRun
from application.messages import Report
from domain.concurrency_key import key_template_problem, render_key
from domain.statuses import RunStatus
from domain.task_spec import SpecValidationError
from tests.unit.conftest import make_spec
from tests.unit.rig import Rig
from tests.unit.test_assignment import Board

KEYED = {"concurrency_key": "{customer_id}", "max_concurrency_per_key": 1}


def keyed(b: Board, task: dict[str, Any], customer: str) -> OpenRun:
    """A pending run of the keyed task for one customer."""
    run = b.run("t", task=task)
    run.params = {"customer_id": customer}
    return run


def test_a_key_renders_from_the_params_and_an_absent_or_secret_one_is_empty() -> None:
    assert render_key("{customer_id}-{region}", {"customer_id": "acme", "region": "eu"}) == (
        "acme-eu"
    )
    assert render_key("c:{customer_id}", {}) == "c:"
    assert render_key("{token}", {"token": {"enc": "v1:k:abc"}}) == ""


@pytest.mark.parametrize(
    "template", ["plain", "{0}", "{a.b}", "{a[0]}", "{a!r}", "{a:>4}", "{unclosed"]
)
def test_a_key_that_is_not_a_plain_template_is_refused_naming_the_field(template: str) -> None:
    assert key_template_problem(template) is not None
    with pytest.raises(SpecValidationError) as error:
        make_spec(concurrency_key=template)
    assert [field for field, _ in error.value.problems] == ["concurrency_key"]


@pytest.mark.parametrize("value", [0, 10_001, True])
def test_a_bad_limit_is_refused_naming_the_field(value: object) -> None:
    with pytest.raises(SpecValidationError) as error:
        make_spec(concurrency_key="{c}", max_concurrency_per_key=value)
    assert [field for field, _ in error.value.problems] == ["max_concurrency_per_key"]


def test_runs_of_one_key_wait_while_its_limit_is_out_and_other_keys_go() -> None:
    b = Board()
    worker = b.worker("w", capacity=8)
    b.out(keyed(b, KEYED, "acme"), worker)
    held = keyed(b, KEYED, "acme")
    other = keyed(b, KEYED, "globex")
    plan = b.plan()
    assert [r for r, _ in plan.wanted] == [other.run_id]
    [(run_id, code, reason)] = plan.notes
    assert (run_id, code) == (held.run_id, KEY_WAIT)
    assert reason == "concurrency_key: 1 runs with key 'acme' are out (max_concurrency_per_key 1)"


def test_keys_take_turns_when_capacity_is_short() -> None:
    b = Board()
    b.worker("w", capacity=3)
    task = {**KEYED, "max_concurrency_per_key": 5}
    acme = [keyed(b, task, "acme") for _ in range(4)]
    globex = keyed(b, task, "globex")
    initech = keyed(b, task, "initech")
    plan = b.plan()
    assert [r for r, _ in plan.wanted] == [acme[0].run_id, globex.run_id, initech.run_id]


def test_a_keyed_run_goes_out_when_a_run_of_its_key_ends(rig: Rig) -> None:
    worker = rig.worker("w", capacity=4)
    spec = make_spec(name="keyed", concurrency_key="{customer_id}", max_concurrency_per_key=1)
    task_id = rig.app.create_task(spec, rig.ctx()).aggregate_id
    first, second = (
        rig.app.trigger_task(task_id, rig.ctx(), params={"customer_id": "acme"}).aggregate_id
        for _ in range(2)
    )
    rig.dispatcher.step()
    rig.dispatcher.step()
    assert rig.app.get_run(second).status is RunStatus.PENDING
    assert list(rig.app.events.get(second))[-1].code == KEY_WAIT
    rig.app.record_reports([Report("succeeded", first, 1, worker, exit_code=0)], rig.clock.now())
    rig.dispatcher.step()
    assert rig.app.get_run(second).status is RunStatus.ASSIGNED


@pytest.mark.parametrize("template", ["{unclosed", "{a.b}", "{0}", "{a:{b}}", "{a!x}"])
def test_a_template_no_validation_let_through_is_its_own_key(template: str) -> None:
    assert render_key(template, {"a": "x"}) == template  # as an injected event could hold


def test_a_run_with_an_unusable_key_template_does_not_stop_the_round() -> None:
    b = Board()
    b.worker("w", capacity=8)
    bad = keyed(b, {"concurrency_key": "{unclosed"}, "acme")
    fine = b.run("other")
    plan = b.plan()
    assert sorted(r for r, _ in plan.wanted) == sorted([bad.run_id, fine.run_id])
