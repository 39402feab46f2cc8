"""API key routes in process: issue (the secret once), list, revoke."""

from __future__ import annotations

import uuid

from tests.routes.support import Api, exercises


@exercises("POST", "/api/keys")
def test_a_key_is_issued_once_and_works_at_once(api: Api) -> None:
    client = api.client()

    response = client.post("/api/keys", json={"name": "ci", "role": "viewer", "expires_in": "1d"})

    assert response.status_code == 201
    issued = response.json()
    assert issued["role"] == "viewer" and issued["key"] and issued["expires_at"]
    assert response.headers["Cache-Control"] == "no-store"
    assert api.client(issued["key"]).get("/api/system/stats").status_code == 200
    assert client.post("/api/keys", json={"name": "ci", "role": "viewer"}).status_code == 409


@exercises("POST", "/api/keys")
def test_issuing_a_key_with_an_unknown_role_is_a_422_and_needs_manage_keys(api: Api) -> None:
    client = api.client()
    editor = api.client(api.key("editor"))

    bad = client.post("/api/keys", json={"name": "x", "role": "root"})
    forbidden = editor.post("/api/keys", json={"name": "y", "role": "viewer"})

    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "role"
    assert forbidden.status_code == 403 and "manage_keys" in forbidden.json()["detail"]


@exercises("GET", "/api/keys")
def test_keys_are_listed_without_their_secrets(api: Api) -> None:
    client = api.client()
    name = f"listed-{uuid.uuid4().hex[:6]}"
    client.post("/api/keys", json={"name": name, "role": "operator"})

    response = client.get("/api/keys", params={"status": "active"})

    assert response.status_code == 200
    listed = next(k for k in response.json() if k["name"] == name)
    assert listed["role"] == "operator" and "key" not in listed and "hash" not in listed
    assert client.get("/api/keys", params={"status": "lost"}).status_code == 422


@exercises("DELETE", "/api/keys/{ref}")
def test_a_revoked_key_is_refused_and_an_unknown_one_is_a_404(api: Api) -> None:
    client = api.client()
    name = f"gone-{uuid.uuid4().hex[:6]}"
    secret = client.post("/api/keys", json={"name": name, "role": "viewer"}).json()["key"]

    revoked = client.delete(f"/api/keys/{name}", params={"reason": "leaked"})

    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    api.app.state.key_directory.refresh()  # what every API process does within 5 seconds
    assert api.client(secret).get("/api/system/stats").status_code == 401
    assert client.delete(f"/api/keys/{uuid.uuid4()}").status_code == 404
