"""Checks `X-Captcha-Response` before a request is routed: 428 for a missing solution where the
gateway requires one (CAPTCHA_ROUTES) and for any solution that fails (invalid, expired, reused),
so the operation never starts; a valid one is marked in the request state, and the proxy then tells
the service `X-Captcha-Verified: true` (gateway/proxy.py `upstream_headers`).

Pure ASGI and innermost: every cheaper refusal comes first, and the body is not touched.
"""

from __future__ import annotations

import logging

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.captcha.config import CaptchaProvider
from gateway.captcha.gate import CaptchaGate
from gateway.captcha.verdicts import CAPTCHA_RESPONSE_HEADER, CaptchaUnavailable, Verdict, captcha_refused
from gateway.clients import TrustedProxies
from gateway.metrics import count_captcha
from gateway.routing import owning_service
from gateway.settings import GatewaySettings
from shared.errors import problem_for
from shared.logging import log_event

# request.state key read by gateway/proxy.py `upstream_headers`.
CAPTCHA_VERIFIED_STATE = "captcha_verified"

logger = logging.getLogger("gateway.captcha")


class CaptchaMiddleware:
    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gate: CaptchaGate | None = (
            getattr(scope["app"].state, "captcha", None) if scope["type"] == "http" else None
        )
        if gate is None and scope["type"] == "http" and owning_service(scope["path"]) and _configured(scope):
            # Configured but not built (the lifespan did not run): refuse rather than skip the check.
            await problem_for(CaptchaUnavailable(), scope["path"])(scope, receive, send)
            return
        if gate is None or not gate.enabled:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        required = gate.routes.requires(method, path)
        if not required and (owning_service(path) is None or method != "POST"):
            # The gateway's own routes take no solution, and neither does anything but a POST (login
            # and registration): a method the service does not have is its 405, whatever the header.
            await self.app(scope, receive, send)
            return
        values = Headers(scope=scope).getlist(CAPTCHA_RESPONSE_HEADER)
        if not values or not values[0].strip():
            if required:
                await self._refuse(scope, receive, send, gate, Verdict.MISSING)
                return
            await self.app(scope, receive, send)  # the service decides whether one was needed
            return
        try:
            verdict = (
                Verdict.INVALID if len(values) > 1 else await gate.verify(values[0].strip(), self._ip(scope))
            )
        except CaptchaUnavailable as error:
            await problem_for(error, path)(scope, receive, send)
            return
        if verdict is not Verdict.VALID:
            await self._refuse(scope, receive, send, gate, verdict)
            return
        scope.setdefault("state", {})[CAPTCHA_VERIFIED_STATE] = True
        count_captcha(scope, verdict.value)
        log_event(logger, "captcha.verified", provider=gate.provider, required=required)
        await self.app(scope, receive, send)

    def _ip(self, scope: Scope) -> str:
        return self.proxies.client_ip(scope)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, gate: CaptchaGate, verdict: Verdict
    ) -> None:
        log_event(logger, "captcha.refused", provider=gate.provider, reason=verdict.value)
        count_captcha(scope, verdict.value)
        await problem_for(captcha_refused(verdict), scope["path"])(scope, receive, send)


def _configured(scope: Scope) -> bool:
    settings: GatewaySettings | None = getattr(scope["app"].state, "settings", None)
    return settings is not None and settings.effective_captcha_provider is not CaptchaProvider.OFF
