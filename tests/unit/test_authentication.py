"""Credentials to principals: keys, JWTs, the metrics token and anonymous loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import jwt
import pytest

from adapters.jwt_verifier import JwtVerifier
from adapters.key_directory import KeyDirectory
from adapters.migrations import apply_migrations
from adapters.sqlite.database import SqliteDatabase
from application.commands.app import SchedulerApp
from domain.context import CommandContext
from domain.principal import ANONYMOUS_LOOPBACK, Principal
from entrypoints.api.authentication import AuthenticationError, Authenticator
from entrypoints.settings import AuthSettings
from projections.api_keys import ApiKeysProjection

SECRET = "j" * 40


@pytest.fixture
def database(tmp_path: Path) -> Iterator[SqliteDatabase]:
    db = SqliteDatabase(tmp_path / "auth.db")
    apply_migrations(db, announce=False)
    yield db
    db.close()


def scope(
    *headers: tuple[str, str], client: str = "127.0.0.1", path: str = "/api/tasks"
) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "client": (client, 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers],
    }


def authenticator(
    database: SqliteDatabase, anonymous: bool = False, metrics_token: str | None = None
) -> Authenticator:
    return Authenticator(
        AuthSettings(allow_anonymous_loopback=anonymous),
        KeyDirectory(database),
        lambda: datetime.now(UTC),
        JwtVerifier(secret=SECRET),
        metrics_token,
    )


def principal(auth: Authenticator, request: dict[str, Any]) -> Principal:
    return anyio.run(auth.authenticate, request)


def refusal(auth: Authenticator, request: dict[str, Any]) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as caught:
        principal(auth, request)
    return caught.value


def issue(app: SchedulerApp, ctx: CommandContext, database: SqliteDatabase, role: str) -> str:
    secret = app.create_api_key(f"k-{role}", role, ctx).secret
    with database.transaction() as tx:
        for position, event in app.read_log(0, 1_000):
            ApiKeysProjection().process(event, position, tx)
    return secret


def test_a_key_in_either_header_gives_its_principal(
    app: SchedulerApp, ctx: CommandContext, database: SqliteDatabase
) -> None:
    secret = issue(app, ctx, database, "operator")
    auth = authenticator(database)

    by_bearer = principal(auth, scope(("Authorization", f"Bearer {secret}")))
    by_header = principal(auth, scope(("X-API-Key", secret)))

    assert by_bearer == by_header
    assert (by_bearer.actor, by_bearer.role) == ("key:k-operator", "operator")


def test_two_different_credentials_in_one_request_are_refused(
    app: SchedulerApp, ctx: CommandContext, database: SqliteDatabase
) -> None:
    secret = issue(app, ctx, database, "viewer")

    failure = refusal(
        authenticator(database), scope(("Authorization", f"Bearer {secret}"), ("X-API-Key", "x"))
    )

    assert failure.reason == "ambiguous"


def test_a_jwt_gives_a_principal_named_by_its_subject(database: SqliteDatabase) -> None:
    token = jwt.encode(
        {"sub": "ci-bot", "role": "editor", "exp": 2_000_000_000}, SECRET, algorithm="HS256"
    )

    found = principal(authenticator(database), scope(("Authorization", f"Bearer {token}")))

    assert (found.actor, found.role) == ("jwt:ci-bot", "editor")


def test_basic_authentication_is_refused_as_an_invalid_request(database: SqliteDatabase) -> None:
    failure = refusal(authenticator(database), scope(("Authorization", "Basic YTpi")))

    assert (failure.reason, failure.error) == ("unsupported_scheme", "invalid_request")


def test_no_credential_is_anonymous_only_from_loopback_when_allowed(
    database: SqliteDatabase,
) -> None:
    allowing, refusing = authenticator(database, anonymous=True), authenticator(database)

    assert principal(allowing, scope()) == ANONYMOUS_LOOPBACK
    assert principal(allowing, scope(client="::1")) == ANONYMOUS_LOOPBACK
    assert refusal(refusing, scope()).reason == "missing"
    assert refusal(allowing, scope(client="192.0.2.10")).reason == "missing"


@pytest.mark.parametrize("header", ["X-Forwarded-For", "Forwarded", "X-Real-IP"])
def test_a_proxied_request_from_loopback_is_never_anonymous(
    database: SqliteDatabase, header: str
) -> None:
    failure = refusal(authenticator(database, anonymous=True), scope((header, "203.0.113.9")))

    assert failure.reason == "missing"


def test_a_bad_credential_is_refused_even_from_loopback(database: SqliteDatabase) -> None:
    failure = refusal(authenticator(database, anonymous=True), scope(("X-API-Key", "sk_nope")))

    assert (failure.reason, failure.error) == ("unknown_key", "invalid_token")


def test_the_metrics_token_opens_metrics_and_nothing_else(database: SqliteDatabase) -> None:
    auth = authenticator(database, metrics_token="m" * 32)
    bearer = ("Authorization", "Bearer " + "m" * 32)

    assert principal(auth, scope(bearer, path="/metrics")).actor == "token:metrics"
    assert refusal(auth, scope(bearer, path="/api/tasks")).reason == "unknown_key"
