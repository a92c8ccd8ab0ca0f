"""Services answer the gateway only: a caller that reaches a service port directly is refused.

The gateway is where rate limits, CAPTCHA, body and URL limits and the public/internal boundary are
enforced; a service that answered anyone on its port would let a caller on the internal network
skip all of them. So outside development every request must carry the gateway's internal token
(compared in constant time), except the operational endpoints an orchestrator or Prometheus calls
on the service's own port (`GET /health/live`, `/health/ready`, `/metrics`), which change nothing.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import Forbidden, problem_for
from shared.forwarding import INTERNAL_TOKEN_HEADER

OPERATIONAL_PATHS = frozenset({"/health/live", "/health/ready", "/metrics"})
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_TOKEN_HEADER = INTERNAL_TOKEN_HEADER.lower().encode("latin-1")


class GatewayOnly(Forbidden):
    slug, title = "gateway-only", "This service answers only the gateway"


def is_operational(scope: Scope) -> bool:
    return scope.get("method") in _SAFE_METHODS and scope.get("path") in OPERATIONAL_PATHS


def presented_token(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name.lower() == _TOKEN_HEADER:
            return bytes(value)
    return b""


class GatewayOnlyMiddleware:
    """403 `gateway-only` for any request without the internal token (operational endpoints aside)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_operational(scope) and not self._admitted(scope):
            refusal = GatewayOnly("Call the shop through its gateway; service ports are internal.")
            await problem_for(refusal, scope.get("path"))(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _admitted(self, scope: Scope) -> bool:
        return bool(self.token) and hmac.compare_digest(presented_token(scope), self.token)
