"""Who the client is and how it reached us, believing forwarded headers only from trusted proxies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.types import Scope

from shared.forwarding import IpNetwork, forwarded_client_ip, forwarded_proto


@dataclass(frozen=True)
class TrustedProxies:
    """`TRUSTED_PROXIES`: the gateway runs with `--no-proxy-headers`, so the ASGI client is the TCP peer."""

    networks: Sequence[IpNetwork] = ()

    def client_ip(self, scope: Scope) -> str:
        headers = Headers(scope=scope)
        return forwarded_client_ip(_peer(scope), headers.getlist("x-forwarded-for"), self.networks)

    def scheme(self, scope: Scope) -> str:
        """`https` when the client's request travelled over TLS to us or to a trusted proxy."""
        headers = Headers(scope=scope)
        return forwarded_proto(
            _peer(scope), scope.get("scheme", "http"), headers.get("x-forwarded-proto"), self.networks
        )


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""
