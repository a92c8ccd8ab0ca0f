"""Counts every request that is not a probe or a scrape, refuses those over a limit with 429
problem+json (`/problems/rate-limited`, `Retry-After`), and describes the tightest applicable limit
in `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy` on
every answer, refusals included.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.clients import TrustedProxies
from gateway.ratelimit.limiter import RateLimits
from gateway.ratelimit.policy import Decision, RouteClass, route_class, rules_for
from shared.errors import AppError, problem_for
from shared.logging import log_event
from shared.tokens import InvalidToken, KeysUnavailable

logger = logging.getLogger("gateway.ratelimit")


class RateLimited(AppError):
    status, slug, title = 429, "rate-limited", "Too many requests"

    def __init__(self, decision: Decision, now: float) -> None:
        refused = decision.binding
        retry_after = max(1, refused.reset_seconds(now))
        super().__init__(
            f"Rate limit of {refused.rule.item.amount} requests per {refused.rule.window_seconds} seconds "
            f"for this kind of request exceeded; retry in {retry_after} seconds.",
            headers=decision.headers(now),
        )


async def verified_user_id(limits: RateLimits, headers: Headers) -> str | None:
    """The user of a bearer token this gateway could verify, else None (the request counts by IP)."""
    verifier = limits.verifier
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if verifier is None or scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        # The same verifier as the services': it waits for a key fetch in flight, so a valid token
        # right after a restart counts for its user, not in the client address's bucket.
        return await limits.verified_tokens.user_id(verifier, token.strip())
    except (InvalidToken, KeysUnavailable):  # the service behind will answer 401 or 503
        return None


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limits: RateLimits, proxies: TrustedProxies) -> None:
        self.app = app
        self.limits = limits
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_class = route_class(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if request_class is None:
            await self.app(scope, receive, send)
            return
        ip = self.proxies.client_ip(scope)
        user_id = None
        if request_class is not RouteClass.WEBHOOKS:  # providers carry no user token
            user_id = await verified_user_id(self.limits, Headers(scope=scope))
        decision = await self.limits.decide(rules_for(request_class, self.limits.limits, ip, user_id))
        now = time.time()
        if decision.refused_by is not None:
            rule = decision.refused_by.rule
            log_event(logger, "ratelimit.refused", route_class=rule.route_class.value, client=rule.client)
            await problem_for(RateLimited(decision, now), scope["path"])(scope, receive, send)
            return
        rate_headers = decision.headers(now)

        async def send_with_rate_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in rate_headers.items():
                    headers[name] = value  # replaces any a service set: only the gateway counts
            await send(message)

        await self.app(scope, receive, send_with_rate_headers)
