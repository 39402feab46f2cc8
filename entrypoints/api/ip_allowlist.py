"""`[api] ip_allowlist`: a 403 for every client address outside the listed networks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from entrypoints.live_config import Derived
from entrypoints.networks import Network, in_networks, parse_address

logger = logging.getLogger(__name__)

# It names neither the list nor how the address was found: an outsider learns nothing.
REFUSAL = orjson.dumps({"detail": "access from this address is not allowed"})


class IpAllowlistMiddleware:
    """Lets in only addresses inside `networks` (after ClientAddressMiddleware resolved them)."""

    def __init__(
        self,
        app: ASGIApp,
        networks: Sequence[Network] | Derived[Any, Sequence[Network]],
        on_refused: Callable[[], None] = lambda: None,
    ) -> None:
        self.app = app
        # A Derived follows the configuration in force (a reload may change the list).
        self._networks = networks if isinstance(networks, Derived) else tuple(networks)
        self._on_refused = on_refused

    @property
    def networks(self) -> Sequence[Network]:
        """The networks let in now."""
        found = self._networks
        return found.value if isinstance(found, Derived) else found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse outsiders before anything else reads their request."""
        networks = self.networks
        if scope["type"] not in ("http", "websocket") or not networks:
            await self.app(scope, receive, send)
            return
        address = scope.get("state", {}).get("client_address", "unknown")
        if in_networks(parse_address(address), networks):
            await self.app(scope, receive, send)
            return
        self._on_refused()
        logger.debug(  # debug: a scan from outside must not flood the log
            "refused a request from %s: not in [api] ip_allowlist",
            address,
            extra={"action": "ip_refused", "client_address": address},
        )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": REFUSAL})
