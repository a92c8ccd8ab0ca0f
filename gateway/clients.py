"""Who the client is and how it reached us, believing forwarded headers only from trusted proxies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Scope

from shared.forwarding import IpNetwork, forwarded_client_ip, forwarded_proto, is_trusted, parse_address

# Scope keys under which one request's answers are kept (one gateway has one TrustedProxies).
_CLIENT_IP = "gateway.client_ip"
_SCHEME = "gateway.scheme"


@dataclass(frozen=True)
class TrustedProxies:
    """`TRUSTED_PROXIES`: the gateway runs with `--no-proxy-headers`, so the ASGI client is the TCP peer."""

    networks: Sequence[IpNetwork] = ()

    def client_ip(self, scope: Scope) -> str:
        # Several protections ask for each request; worked out once, remembered in the scope.
        cached: str | None = scope.get(_CLIENT_IP)
        if cached is None:
            headers = Headers(scope=scope)
            cached = forwarded_client_ip(_peer(scope), headers.getlist("x-forwarded-for"), self.networks)
            scope[_CLIENT_IP] = cached
        return cached

    def peer_trusted(self, scope: Scope) -> bool:
        """Whether the TCP peer is a trusted proxy (whose trace context the gateway continues)."""
        address = parse_address(_peer(scope))
        return address is not None and is_trusted(address, self.networks)

    def scheme(self, scope: Scope) -> str:
        """`https` when the client's request travelled over TLS to us or to a trusted proxy."""
        cached: str | None = scope.get(_SCHEME)
        if cached is None:
            headers = Headers(scope=scope)
            cached = forwarded_proto(
                _peer(scope), scope.get("scheme", "http"), headers.get("x-forwarded-proto"), self.networks
            )
            scope[_SCHEME] = cached
        return cached


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""
