"""The web UI in process: sessions, CSRF, sign-in redirects, offline docs and the event stream."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.audit_chain import SqlChainStore
from application.audit import AuditChainFollower
from application.messages import Report
from entrypoints.api.app import create_api
from entrypoints.bootstrap import Container, build_container, rebuild_lock
from entrypoints.settings import load_settings
from entrypoints.web import runs as web_runs
from entrypoints.web.session import COOKIE, SessionSealer, derive_key
from tests.routes.support import Api, Caller, open_api
from tests.routes.support import ctx as route_ctx

with warnings.catch_warnings():  # Starlette asks for httpx2, which our lock does not hold
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

LOOPBACK = ("127.0.0.1", 40000)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path: Path = tmp_path_factory.mktemp("web") / "s.db"
    settings = load_settings(
        None,
        {
            "SCHEDULER_DATABASE__URL": f"sqlite:///{path}",
            "SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK": "true",
        },
    )
    container = build_container(settings)
    try:
        with TestClient(create_api(container), client=LOOPBACK, follow_redirects=False) as c:
            yield c
    finally:
        container.close()


def csrf_of(page: str) -> str:
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_a_sealed_session_opens_only_unchanged_and_unexpired() -> None:
    sealer = SessionSealer(derive_key(b"k" * 32))
    session = sealer.new("sk_secret", now=1_000.0)
    value = sealer.seal(session)

    assert "sk_secret" not in value
    assert sealer.open(value, now=1_001.0) == session
    assert (
        sealer.open(value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1], now=1_001.0)
        is None
    )
    assert sealer.open(value, now=session.expires_at) is None
    assert SessionSealer(derive_key(b"j" * 32)).open(value, now=1_001.0) is None
    assert sealer.csrf_ok(session, sealer.csrf_token(session))
    assert not sealer.csrf_ok(session, "0" * 64)


def test_a_page_sets_an_httponly_strict_session_cookie(client: TestClient) -> None:
    answer = client.get("/ui/")

    assert answer.status_code == 200
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith(COOKIE) and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain HTTP here; over TLS it is Secure
    assert "default-src 'self'" in answer.headers["content-security-policy"]


def test_a_form_without_the_sessions_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/ui/tasks/new")
    assert client.post("/ui/tasks", data={"name": "x", "command": "echo"}).status_code == 403
    forged = client.post("/ui/tasks", data={"name": "x", "command": "echo", "csrf": "f" * 64})
    assert forged.status_code == 403


def test_a_bad_cron_comes_back_as_the_form_with_the_field_marked(client: TestClient) -> None:
    csrf = csrf_of(client.get("/ui/tasks/new").text)
    fields = {"csrf": csrf, "name": "cron-check", "command": "echo", "schedule": "61 * * * *"}
    answer = client.post("/ui/tasks", data=fields)

    assert answer.status_code == 422
    assert 'id="e-schedule"' in answer.text and 'aria-invalid="true"' in answer.text
    assert 'value="cron-check"' in answer.text


def test_a_browser_that_is_not_signed_in_is_sent_to_the_sign_in_page(
    client: TestClient,
) -> None:
    proxied = {"X-Forwarded-For": "203.0.113.9"}  # not anonymous loopback any more
    answer = client.get("/ui/tasks?status=active", headers=proxied)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=%2Fui%2Ftasks%3Fstatus%3Dactive"
    assert client.get("/ui/login", headers=proxied).status_code == 200


def test_an_unknown_key_does_not_sign_in(client: TestClient) -> None:
    csrf = csrf_of(client.get("/ui/login").text)
    answer = client.post("/ui/login", data={"csrf": csrf, "api_key": "sk_nope", "next": "/ui/"})

    assert answer.status_code == 401
    assert "Unknown API key." in answer.text


def test_sign_in_never_redirects_off_the_site(client: TestClient) -> None:
    answer = client.get("/ui/login", params={"next": "//evil.example/"})
    assert 'name="next" value="/"' in answer.text


def test_the_api_docs_load_their_assets_from_this_server(client: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path).text
        assert "cdn" not in page and "/ui/static/docs/" in page
    assert client.get("/ui/static/docs/swagger-ui-bundle.js").status_code == 200
    assert client.get("/ui/static/docs/redoc.standalone.js").status_code == 200


def test_the_stream_resumes_after_last_event_id(client: TestClient) -> None:
    for name in ("stream-a", "stream-b"):
        assert client.post("/api/tasks", json={"name": name, "command": "echo"}).status_code == 201

    first = client.get("/api/events/stream", params={"after": 0, "limit": 1})
    assert first.headers["content-type"].startswith("text/event-stream")
    assert "\nid: 1\n" in first.text
    resumed = client.get(
        "/api/events/stream", params={"after": 0, "limit": 1}, headers={"Last-Event-ID": "1"}
    )
    assert "\nid: 2\n" in resumed.text and "\nid: 1\n" not in resumed.text


def test_a_page_streams_from_what_its_views_had_not_from_the_log_head(
    client: TestClient,
) -> None:
    # This client projects nothing: the log is ahead of the views, as under load.
    assert client.post("/api/tasks", json={"name": "ahead", "command": "true"}).status_code == 201
    assert head_of(client.get("/ui/tasks").text) == 0 < log_head(client)


def head_of(page: str) -> int:
    """The position a page's live stream starts after (its body's data-head)."""
    return int(page.split('data-head="', 1)[1].split('"', 1)[0])


def log_head(client: TestClient) -> int:
    """The newest position in the log, as the events route reports it."""
    return int(client.get("/api/events", params={"limit": 1}).json()["head"])


@pytest.fixture
def projected(tmp_path: Path) -> Iterator[Caller]:
    """An API whose views are projected (in threads), as a running process has them."""
    for api in open_api(tmp_path):
        yield api.client()


def test_a_refresh_that_heard_a_position_renders_once_every_view_has_it(
    projected: Caller,
) -> None:
    created = projected.post("/api/tasks", json={"name": "caught", "command": "true"})
    assert created.status_code == 201
    heard = log_head(projected)  # what a page's stream would have heard

    page = projected.get("/ui/tasks", headers={"X-Seen-Position": str(heard)}).text

    assert head_of(page) == heard > 0 and "caught" in page


def test_the_run_list_pages_by_log_position_both_ways(
    projected: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = projected
    monkeypatch.setattr(web_runs, "PAGE", 2)
    assert client.post("/api/tasks", json={"name": "paged", "command": "true"}).status_code == 201
    ids = [client.post("/api/tasks/paged/trigger").json()["run_id"] for _ in range(3)]

    first = client.get("/ui/runs?task=paged").text
    older = client.get(f"/ui/runs?task=paged&{link(first, 'next')}").text
    newer = client.get(f"/ui/runs?task=paged&{link(older, 'prev')}").text
    last = client.get(f"/ui/runs?task=paged&{link(first, 'last')}").text

    assert shown(first) == ids[:0:-1] and 'rel="prev"' not in first
    assert shown(older) == ids[:1] and 'rel="next"' not in older
    assert shown(newer) == ids[:0:-1]
    assert shown(last) == ids[1::-1] and 'rel="prev"' in last and 'rel="next"' not in last


def link(page: str, rel: str) -> str:
    """The cursor of the pager's `rel` link (`before=N` or `after=N`)."""
    href = page.split(f'" rel="{rel}"', 1)[0].rsplit('href="', 1)[1]
    return href.rsplit(";", 1)[-1].rsplit("?", 1)[-1]  # after the last &amp; (or the ?)


def shown(page: str) -> list[str]:
    """The run ids a run list shows, in order."""
    return [part.split('"', 1)[0] for part in page.split('href="/ui/runs/')[1:]]


def test_refused_trigger_parameters_come_back_inline_with_the_text_typed(
    client: TestClient,
) -> None:
    assert client.post("/api/tasks", json={"name": "params", "command": "true"}).status_code == 201
    page = client.get("/ui/tasks/params").text

    answer = client.post(
        "/ui/tasks/params/trigger", data={"params": "[1, 2]", "csrf": csrf_of(page)}
    )

    assert answer.status_code == 422
    assert 'data-field="params"' in answer.text and "must be a JSON object" in answer.text
    assert ">[1, 2]</textarea>" in answer.text


def test_the_system_page_shows_the_audit_chains_head_once_chained(tmp_path: Path) -> None:
    for api in open_api(tmp_path):
        client = api.client()
        assert 'id="audit-head">nothing chained yet<' in client.get("/ui/system").text
        assert client.post("/api/tasks", json={"name": "a", "command": "true"}).status_code == 201
        log, store = api.container.app.stored_log, SqlChainStore(api.container.database)
        AuditChainFollower(log, store).extend_once()
        link = store.head()
        assert link is not None

        page = client.get("/ui/system").text

        assert f'id="audit-head">{link.position}:{link.hash.hex()}<' in page
        assert f"--anchor {link.position}:{link.hash.hex()}" in page


def test_a_running_runs_output_so_far_is_its_output_until_it_ends(tmp_path: Path) -> None:
    for api in open_api(tmp_path):
        client, app = api.client(), api.container.app
        assert client.post("/api/tasks", json={"name": "chatty", "command": "x"}).status_code == 201
        run_id = uuid.UUID(client.post("/api/tasks/chatty/trigger").json()["run_id"])
        worker = uuid.uuid4()
        run = app.get_run(run_id)
        run.assign(worker, route_ctx())
        app.save(run)

        report(api, Report("started", run_id, 1, worker, pid=1))
        report(api, Report("output", run_id, 1, worker, output="line 1\n", sequence=2))
        # Another dispatcher's older one, recorded late: dropped.
        report(api, Report("output", run_id, 1, worker, output="older", sequence=1))
        assert client.get(f"/api/runs/{run_id}").json()["output"] == "line 1\n"
        assert '<pre id="output">line 1\n</pre>' in client.get(f"/ui/runs/{run_id}").text
        report(api, Report("succeeded", run_id, 1, worker, exit_code=0, output="line 1\nline 2\n"))
        report(api, Report("output", run_id, 1, worker, output="after", sequence=3))
        assert client.get(f"/api/runs/{run_id}").json()["output"] == "line 1\nline 2\n"


def report(api: Api, message: Report) -> None:
    """Record one worker report as a dispatcher does, and wait for the views to have it."""
    api.container.app.record_reports([message], datetime.now(UTC))
    api.catch_up()


@contextmanager
def browser_session(tmp_path: Path) -> Iterator[tuple[Container, TestClient]]:
    """A loopback admin's cookie-keeping client of a fresh in-process API (forms need it)."""
    settings = load_settings(
        None,
        {
            "SCHEDULER_DATABASE__URL": f"sqlite:///{tmp_path / 's.db'}",
            "SCHEDULER_AUTH__ALLOW_ANONYMOUS_LOOPBACK": "true",
        },
    )
    container = build_container(settings)
    try:
        with TestClient(create_api(container), client=LOOPBACK, follow_redirects=False) as c:
            yield container, c
    finally:
        container.close()


def test_an_admin_rebuilds_a_projection_from_the_system_page(tmp_path: Path) -> None:
    with browser_session(tmp_path) as (container, c):
        page = c.get("/ui/system").text
        assert 'id="rebuild-runs"' in page and "data-poll" not in page
        with rebuild_lock(container.database, "runs"):  # as a CLI rebuild holds it
            refused = c.post("/ui/system/projections/runs/rebuild", data={"csrf": csrf_of(page)})
        assert refused.status_code == 409
        assert 'id="rebuild-refused"' in refused.text and "another rebuild" in refused.text

        started = c.post("/ui/system/projections/runs/rebuild", data={"csrf": csrf_of(page)})
        assert (started.status_code, started.headers["location"]) == (303, "/ui/system")
        deadline = time.monotonic() + 20
        while 'data-status="switched"' not in (shown := c.get("/ui/system").text):
            assert 'data-status="failed"' not in shown and time.monotonic() < deadline
            time.sleep(0.05)
        assert 'id="rebuild-job-runs"' in shown and "data-poll" not in shown


def test_a_viewer_is_not_offered_a_rebuild(tmp_path: Path) -> None:
    for api in open_api(tmp_path):
        viewer = api.client(api.key("viewer"))
        page = viewer.get("/ui/system")
        assert page.status_code == 200 and 'id="rebuild-runs"' not in page.text
        refused = viewer.post("/ui/system/projections/runs/rebuild", data={"csrf": "x"})
        assert refused.status_code == 403 and "'rebuild'" in refused.text


def test_an_operator_verifies_the_audit_chain_from_the_system_page(tmp_path: Path) -> None:
    with browser_session(tmp_path) as (container, c):
        assert c.post("/api/tasks", json={"name": "a", "command": "true"}).status_code == 201
        store = SqlChainStore(container.database)
        AuditChainFollower(container.app.stored_log, store).extend_once()
        page = c.get("/ui/system").text
        assert 'id="verify-audit"' in page

        verified = c.post("/ui/system/audit/verify", data={"csrf": csrf_of(page)})

        assert verified.status_code == 200
        assert 'data-intact="true"' in verified.text
        assert f"up to position {store.head().position}" in verified.text  # type: ignore[union-attr]
        assert c.post("/ui/system/audit/verify", data={"csrf": "f" * 64}).status_code == 403
