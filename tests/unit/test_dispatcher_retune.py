"""A configuration reload retunes a running dispatcher from its next round on."""

from __future__ import annotations

import dataclasses

from entrypoints.bootstrap import dispatch_policy
from entrypoints.settings import load_settings
from tests.unit.rig import Rig


def test_a_smaller_batch_size_caps_the_next_round_and_a_larger_one_lifts_it(rig: Rig) -> None:
    worker = rig.worker("a", capacity=10)
    for i in range(4):
        rig.trigger(f"t{i}")
    rig.dispatcher.retune(dataclasses.replace(rig.dispatcher.policy, batch_size=1))
    rig.dispatcher.step()
    assert len(rig.inbox(worker)) == 1
    rig.dispatcher.retune(dataclasses.replace(rig.dispatcher.policy, batch_size=10))
    rig.dispatcher.step()
    assert len(rig.inbox(worker)) == 3


def test_every_part_of_the_dispatcher_takes_the_reloaded_knobs(rig: Rig) -> None:
    settings = load_settings(
        None,
        {
            "SCHEDULER_DISPATCHER__ASSIGN_BATCH_SIZE": "7",
            "SCHEDULER_DISPATCHER__POLL_INTERVAL_SECONDS": "0.25",
            "SCHEDULER_DISPATCHER__REPUBLISH_AFTER_SECONDS": "42",
            "SCHEDULER_DISPATCHER__MAX_RECOVERIES": "9",
            "SCHEDULER_DISPATCHER__DEADLINE_GRACE_SECONDS": "11",
        },
    )
    rig.dispatcher.retune(dispatch_policy(settings))
    policy = rig.dispatcher.maintenance.policy
    assert (policy.republish_after_seconds, policy.max_recoveries) == (42, 9)
    assert policy.deadline_grace_seconds == 11
    assert rig.dispatcher.reports.batch_size == 7
    assert rig.dispatcher.policy.poll_interval == 0.25
