"""The audit chain over HTTP in process: the head, a verification, anchors, refusals."""

from __future__ import annotations

import pytest

from adapters.audit_chain import SqlChainStore
from application import audit_check
from application.audit import AuditChainFollower
from tests.routes.support import Api, exercises
from tests.routes.test_tasks import create

HEAD, VERIFY = "/api/system/audit", "/api/system/audit/verify"


def chained(api: Api) -> str:
    """Chain every event so far, as the chain follower does; the head it reached."""
    create(api.client())
    store = SqlChainStore(api.container.database)
    AuditChainFollower(api.container.app.stored_log, store).catch_up(None)
    head = api.client().get(HEAD).json()["head"]
    assert head is not None
    return head


@exercises("GET", HEAD)
@exercises("POST", VERIFY)
def test_the_chain_verifies_intact_and_its_head_is_the_one_recomputed(api: Api) -> None:
    head = chained(api)

    answer = api.client().post(VERIFY, json={"anchors": [head]})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["intact"] is True and body["broken"] is None
    assert body["head"] == head and body["verified"] == int(head.split(":")[0])
    assert api.client().get(HEAD).json()["log_head"] >= body["last_position"]


@exercises("POST", VERIFY)
def test_an_anchor_the_chain_no_longer_has_is_a_break_at_its_position(api: Api) -> None:
    position = chained(api).split(":")[0]

    answer = api.client().post(VERIFY, json={"anchors": [f"{position}:{'00' * 32}"]})

    assert answer.status_code == 200
    assert answer.json()["intact"] is False
    assert answer.json()["broken"]["position"] == int(position)


@exercises("POST", VERIFY)
def test_bad_windows_and_anchors_are_refused_naming_them(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = api.client()
    chained(api)
    bad_anchor = client.post(VERIFY, json={"anchors": ["12:nothex"]})
    assert bad_anchor.status_code == 422 and "anchors" in bad_anchor.text
    backwards = client.post(VERIFY, json={"from_position": 5, "to_position": 2})
    assert backwards.status_code == 422 and "to_position" in backwards.text
    monkeypatch.setattr(audit_check, "MAX_CHECKED_EVENTS", 1)
    too_long = client.post(VERIFY, json={})
    assert too_long.status_code == 422 and "from_position" in too_long.text
    assert client.post(VERIFY, json={"from": 1}).status_code == 422  # unknown field
    viewer = api.client(api.key("viewer"))
    assert viewer.get(HEAD).status_code == 200
    assert viewer.post(VERIFY, json={}).status_code == 403
