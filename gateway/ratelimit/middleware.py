"""Counts every request that is not a probe or a scrape, refuses those over a limit with 429
problem+json (`/problems/rate-limited`, `Retry-After`), and describes the tightest applicable limit
in `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy` on
every answer, refusals included.

`RateLimitMiddleware` decides every class but `refresh`, before a request takes an in-flight slot;
`RefreshLimitMiddleware` decides `refresh` after the body limit, where it can read the session the
presented refresh token names (gateway/ratelimit/sessions.py).
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.clients import TrustedProxies
from gateway.ratelimit.limiter import RateLimits
from gateway.ratelimit.policy import Decision, RouteClass, Rule, route_class, rules_for
from gateway.ratelimit.sessions import presented_family
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


async def apply(
    limits: RateLimits, rules: list[Rule], app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    """Count the request in `rules`' buckets; refuse it with a 429, or pass it on with the headers."""
    decision = await limits.decide(rules)
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

    await app(scope, receive, send_with_rate_headers)


class RateLimitMiddleware:
    """Every class but `refresh`: before the in-flight cap, so a refused request takes no slot."""

    def __init__(self, app: ASGIApp, limits: RateLimits, proxies: TrustedProxies) -> None:
        self.app = app
        self.limits = limits
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_class = route_class(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if request_class is None or request_class is RouteClass.REFRESH:
            await self.app(scope, receive, send)
            return
        ip = self.proxies.client_ip(scope)
        user_id = None
        if request_class is not RouteClass.WEBHOOKS:  # providers carry no user token
            user_id = await verified_user_id(self.limits, Headers(scope=scope))
        rules = rules_for(request_class, self.limits.limits, ip, user_id)
        await apply(self.limits, rules, self.app, scope, receive, send)


class RefreshLimitMiddleware:
    """`refresh`: per session and per client address. Inside the body limit, which bounds the size
    and the time of the body read here to find the session (a slow client's refresh holds one
    in-flight slot, like any request)."""

    def __init__(self, app: ASGIApp, limits: RateLimits, proxies: TrustedProxies, cookie_name: str) -> None:
        self.app = app
        self.limits = limits
        self.proxies = proxies
        self.cookie_name = cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or route_class(scope["method"], scope["path"]) is not RouteClass.REFRESH:
            await self.app(scope, receive, send)
            return
        family_id, receive = await presented_family(scope, receive, self.cookie_name)
        ip = self.proxies.client_ip(scope)
        rules = rules_for(RouteClass.REFRESH, self.limits.limits, ip, None, family_id)
        await apply(self.limits, rules, self.app, scope, receive, send)
