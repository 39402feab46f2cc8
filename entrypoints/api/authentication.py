"""Authentication: every request but the public paths proves who it is, or gets a 401.

Credentials: `Authorization: Bearer <API key or JWT>` or `X-API-Key: <API key>`. The
principal found is put in `request.state.principal` for the routes, the actor of events and
the rate limiter. Without a credential, a request from 127.0.0.1/::1 acts as an anonymous
admin only when `[auth] allow_anonymous_loopback` is true and it did not come through a proxy.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from anyio import to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.jwt_verifier import JwtVerifier, TokenError
from adapters.key_directory import KeyDirectory, KeysUnavailableError
from adapters.metrics import Metrics
from application.log_context import bind_log_context, unbind_log_context
from domain.errors import InvalidFieldError
from domain.namespace import ALL_NAMESPACES, checked_namespaces
from domain.principal import ANONYMOUS_LOOPBACK, ROLES, Principal
from entrypoints.api.permissions import PUBLIC_PATHS
from entrypoints.loopback import is_loopback_host
from entrypoints.settings import AuthSettings

logger = logging.getLogger(__name__)

REALM = 'Bearer realm="scheduler"'
# A request carrying one of these came through a proxy: its peer address is the proxy's.
FORWARDING_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")
MAX_CREDENTIAL_LENGTH = 8_192


@dataclass
class AuthenticationError(Exception):
    """Why a request is not authenticated; `reason` labels scheduler_auth_denied_total."""

    reason: str
    detail: str
    error: str | None = "invalid_token"  # the RFC 6750 error code, None when none was sent
    status: int = 401


def exposure_problem(settings: AuthSettings, api_host: str) -> str | None:
    """Why a process must not serve the API with these settings (Redis' protected mode)."""
    if settings.allow_anonymous_loopback and not is_loopback_host(api_host):
        return (
            f"[auth] allow_anonymous_loopback is true and [api] host is {api_host!r}, which is"
            " not a loopback address: anonymous callers would be let in from outside."
            " Bind to 127.0.0.1, or set allow_anonymous_loopback = false and create a key"
            " (scheduler keys create --name admin --role admin)"
        )
    return None


class Authenticator:
    """Turns a request's credential into a Principal, or an AuthenticationError."""

    def __init__(
        self,
        settings: AuthSettings,
        keys: KeyDirectory,
        now: Callable[[], datetime],
        verifier: JwtVerifier | None = None,
        metrics_token: str | None = None,
    ) -> None:
        self._settings = settings
        self._keys = keys
        self._now = now
        self._verifier = verifier
        self._metrics_token = metrics_token

    async def authenticate(self, scope: Scope) -> Principal:
        """The principal of a request (raises AuthenticationError)."""
        headers = _headers(scope)
        credential = _credential(headers)
        if credential is None:
            if self._anonymous_allowed(scope, headers):
                return ANONYMOUS_LOOPBACK
            raise AuthenticationError(
                "missing",
                "a credential is needed: Authorization: Bearer <key or token>, or X-API-Key: <key>",
                error=None,
            )
        if (
            self._metrics_token is not None
            and scope["path"] == "/metrics"
            and hmac.compare_digest(credential.encode(), self._metrics_token.encode())
        ):
            return Principal(kind="token", name="metrics", role="viewer")
        if credential.count(".") == 2:
            return self._from_token(credential)
        return await self._from_key(credential)

    def _anonymous_allowed(self, scope: Scope, headers: dict[bytes, bytes]) -> bool:
        client = scope.get("client")
        return (
            self._settings.allow_anonymous_loopback
            and client is not None
            and is_loopback_host(str(client[0]))
            and not any(name in headers for name in FORWARDING_HEADERS)
        )

    async def _from_key(self, secret: str) -> Principal:
        if self._keys.due():
            await to_thread.run_sync(partial(self._keys.refresh, if_due=True))
        try:
            row = self._keys.find(secret)
            if row is None and self._keys.due(missed=True):
                # Perhaps created a moment ago: read the table once more before refusing.
                await to_thread.run_sync(partial(self._keys.refresh, if_due=True, missed=True))
                row = self._keys.find(secret)
        except KeysUnavailableError as error:
            detail = f"{error}; retry shortly"
            raise AuthenticationError("keys_unavailable", detail, None, 503) from None
        if row is None:
            raise AuthenticationError("unknown_key", "unknown API key")
        now = self._now()
        status = row.status(now)
        if status != "active":
            raise AuthenticationError(f"{status}_key", f"the API key {row.name!r} is {status}")
        self._keys.note_used(row.id, now)
        scope = None if ALL_NAMESPACES in row.namespaces else frozenset(row.namespaces)
        return Principal(kind="key", name=row.name, role=row.role, key_id=row.id, namespaces=scope)

    def _from_token(self, token: str) -> Principal:
        if self._verifier is None:
            detail = "JWTs are not accepted: no [auth] jwt key is set"
            raise AuthenticationError("jwt_disabled", detail)
        try:
            claims = self._verifier.verify(token)
        except TokenError as error:
            raise AuthenticationError(error.reason, error.description) from None
        role = _role_of(claims.get(self._settings.jwt_role_claim))
        if role is None:
            raise AuthenticationError(
                "token_role",
                f"the token's {self._settings.jwt_role_claim!r} claim names none of the roles"
                f" {', '.join(ROLES)}",
            )
        name = str(claims["sub"])[:200]
        return Principal(kind="jwt", name=name, role=role, namespaces=_namespaces_of(claims))


def _namespaces_of(claims: dict[str, Any]) -> frozenset[str] | None:
    """The token's `namespaces` claim: a list of names (or "*"); absent: every namespace.

    Raises:
        AuthenticationError: the claim is there but names no namespace properly.
    """
    if "namespaces" not in claims:
        return None
    claim = claims["namespaces"]
    names = [claim] if isinstance(claim, str) else claim if isinstance(claim, list) else None
    try:
        chosen = checked_namespaces(names if names is not None else [])
    except InvalidFieldError as error:
        detail = f"the token's namespaces claim: {error.message}"
        raise AuthenticationError("token_namespaces", detail) from None
    return None if ALL_NAMESPACES in chosen else frozenset(chosen)


def _role_of(claim: object) -> str | None:
    """The role a claim names: a role, or a list of them (the one with the most rights)."""
    names = [claim] if isinstance(claim, str) else claim if isinstance(claim, list) else []
    known = [n for n in names if isinstance(n, str) and n in ROLES]
    if not known:
        return None
    ranked = [r for r in ("admin", "editor", "operator", "viewer", "worker") if r in known]
    return ranked[0]


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers") or []}


def _credential(headers: dict[bytes, bytes]) -> str | None:
    """The one credential of a request (None: none given); refuses ambiguous ones."""
    given: list[str] = []
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError(
                "unsupported_scheme",
                "the Authorization header must be 'Bearer <key or token>'",
                error="invalid_request",
            )
        given.append(value.strip())
    api_key = headers.get(b"x-api-key")
    if api_key is not None:
        given.append(api_key.decode("latin-1").strip())
    if not given:
        return None
    if len(set(given)) > 1:
        raise AuthenticationError(
            "ambiguous",
            "give one credential: Authorization or X-API-Key, not two different ones",
            error="invalid_request",
        )
    if not given[0] or len(given[0]) > MAX_CREDENTIAL_LENGTH:
        raise AuthenticationError("malformed", "the credential is empty or too long")
    return given[0]


class AuthenticationMiddleware:
    """Answers 401 (with WWW-Authenticate) for every unauthenticated non-public request."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, metrics: Metrics) -> None:
        self.app = app
        self.authenticator = authenticator
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, then pass the request on with its principal."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = None
        if scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.authenticator.authenticate(scope)
        except AuthenticationError as failure:
            await self._refuse(scope, send, failure)
            return
        state["principal"] = principal
        token = bind_log_context(principal=principal.actor)  # on every line of the request
        try:
            await self.app(scope, receive, send)
        finally:
            unbind_log_context(token)

    async def _refuse(self, scope: Scope, send: Send, failure: AuthenticationError) -> None:
        client = scope.get("client")
        logger.warning(
            "request not authenticated: %s",
            failure.detail,
            extra={
                "action": "auth_denied",
                "reason": failure.reason,
                "path": scope["path"],
                "client": client[0] if client else None,
            },
        )
        self.metrics.auth_denied.labels(reason=failure.reason).inc()
        challenge = REALM
        if failure.error is not None:
            description = failure.detail.replace('"', "'")
            challenge += f', error="{failure.error}", error_description="{description}"'
        headers = [(b"content-type", b"application/json")]
        if failure.status == 401:
            headers.append((b"www-authenticate", challenge.encode()))
        else:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": failure.status, "headers": headers})
        await send({"type": "http.response.body", "body": orjson.dumps({"detail": failure.detail})})
