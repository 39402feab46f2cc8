"""Who is calling: the client address, believing X-Forwarded-For only from trusted proxies.

One function decides it for every consumer (the IP allowlist, the rate limiter, the auth's
loopback rule), and ClientAddressMiddleware puts the answer on `request.state.client_address`
before any of them runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.networks import Network, in_networks, parse_address

UNKNOWN = "unknown"  # a peer the server did not name (say, a Unix socket)


def resolve_client(
    peer: str | None, forwarded_for: Sequence[str], trusted: Iterable[Network]
) -> str:
    """The right-most address that is not a trusted proxy, walking back from the peer.

    X-Forwarded-For is read only when the peer itself is trusted: anyone else could write it.
    Each trusted proxy appends the address it received from, so the entries right of the
    client are proxies; left of it, anything the client chose to send. An entry that is not
    an address stops the walk at the proxy that passed it on.
    """
    trusted = tuple(trusted)
    if peer is None:
        return UNKNOWN
    current = parse_address(peer)
    if current is None:
        return peer
    for entry in reversed(forwarded_for):
        if not in_networks(current, trusted):
            break
        hop = parse_address(entry)
        if hop is None:
            break
        current = hop
    return str(current)


def forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every X-Forwarded-For entry, in order, over all such headers."""
    entries: list[str] = []
    for name, value in headers:
        if name.lower() == b"x-forwarded-for":
            entries.extend(e.strip() for e in value.decode("latin-1").split(",") if e.strip())
    return entries


def via_https(scope: Scope, trusted: Iterable[Network]) -> bool:
    """Served over TLS, by this server or (X-Forwarded-Proto) by a trusted proxy in front."""
    if scope.get("scheme") in ("https", "wss"):
        return True
    client = scope.get("client")
    if client is None or not in_networks(parse_address(str(client[0])), trusted):
        return False
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers") or []
    for name, value in headers:
        if name.lower() == b"x-forwarded-proto":
            # The nearest proxy's word counts: it is the right-most value.
            return value.decode("latin-1").split(",")[-1].strip().lower() == "https"
    return False


def client_address(request: HTTPConnection | Scope, trusted_proxies: Iterable[Network]) -> str:
    """The caller's address as this API sees it (see resolve_client)."""
    scope: Any = request.scope if isinstance(request, HTTPConnection) else request
    client = scope.get("client")
    peer = str(client[0]) if client else None
    return resolve_client(peer, forwarded_for(scope.get("headers") or []), trusted_proxies)


class ClientAddressMiddleware:
    """Sets `request.state.client_address` and `request.state.via_https` once per request."""

    def __init__(self, app: ASGIApp, trusted_proxies: Sequence[Network]) -> None:
        self.app = app
        self.trusted = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Resolve, record, pass on."""
        if scope["type"] in ("http", "websocket"):
            state = scope.setdefault("state", {})
            state["client_address"] = client_address(scope, self.trusted)
            state["via_https"] = via_https(scope, self.trusted)
        await self.app(scope, receive, send)
