"""Quarantine routes in process: an aggregate a projection cannot handle, listed and released."""

from __future__ import annotations

import uuid

from tests import poison
from tests.routes.support import Api, exercises

Q = "/api/system/quarantine"


@exercises("GET", Q)
@exercises("POST", f"{Q}/{{aggregate_id}}/{{action}}")
def test_a_held_aggregate_is_listed_and_released(api: Api) -> None:
    client = api.client()
    bad = str(poison.undecodable_state(api.container.app))
    api.catch_up()

    held = client.get(Q, params={"aggregate_id": bad})
    released = client.post(f"{Q}/{bad}/release")

    assert held.status_code == 200
    holders = {e["consumer"] for e in held.json()["items"]}
    assert "projection:runs" in holders  # where run requests are handled
    assert released.status_code == 202
    assert released.json()["action"] == "release"
    assert released.json()["entries"] == len(holders)
    assert released.json()["through"] == api.container.app.head_position()


@exercises("GET", Q)
def test_listing_the_quarantine_by_an_unknown_status_is_a_422(api: Api) -> None:
    response = api.client().get(Q, params={"status": "forgotten"})

    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "status"


@exercises("POST", f"{Q}/{{aggregate_id}}/{{action}}")
def test_an_action_on_nothing_held_is_a_404_and_an_unknown_action_a_422(api: Api) -> None:
    client = api.client()

    assert client.post(f"{Q}/{uuid.uuid4()}/retry").status_code == 404
    assert client.post(f"{Q}/{uuid.uuid4()}/forget").status_code == 422
    viewer = api.client(api.key("viewer"))
    assert viewer.post(f"{Q}/{uuid.uuid4()}/retry").status_code == 403
