"""Route classes, their limits, the buckets a request counts in, and the headers that describe them.

Every public route is in the `default` class, counted per client (user when authenticated, else IP).
Some routes are also in a stricter class and count against both: `auth` (POST login and register;
always per IP, since these callers are not yet authenticated), `checkout` (POST orders and
payments) and `refunds`. Provider `webhooks` and redirect `callbacks` are limited separately, per IP
and generously, and do not use the default budget: a burst of webhooks from a provider must not be
refused because of the provider's address. Probes (`/health*`) and scrapes (`/metrics`) are exempt.

`refresh` (POST refresh) is a class of its own, apart from login and the default budget: an SPA
refreshes on every page load, and a shopper reloading or opening tabs must never be logged out by a
limit meant for password guessing, nor by the other shoppers behind the same address. It counts
per session (`refresh`, keyed by a hash of the token family the refresh token names,
shared/refresh_tokens.py) and, more loosely, per client address (`refresh_client`), which bounds a
caller who invents families to get fresh buckets. A token without a family part counts per address
in both. The family is read after the body limit (gateway/ratelimit/sessions.py), so this class is
decided by a second, inner middleware.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from limits import RateLimitItem, parse_many

from shared.forwarding import client_group

# Longest window a limit may have: counters of longer windows would outlive any use.
MAX_WINDOW_SECONDS = 86_400
# Probes and scrapes: an orchestrator or monitor must never be refused.
HEALTH_PREFIX = "/health"
METRICS_PATH = "/metrics"
AUTH_PATHS = frozenset({"/api/v1/auth/login", "/api/v1/auth/register"})
REFRESH_PATH = "/api/v1/auth/refresh"
CHECKOUT_PATHS = frozenset({"/api/v1/orders", "/api/v1/payments"})
WEBHOOK_PREFIXES = ("/api/v1/payments/webhooks/", "/api/v1/payments/callbacks/")
_REFUNDS = re.compile(r"^/api/v1/payments/[^/]+/refunds$")
_REPEATED_SLASHES = re.compile(r"/{2,}")


class RouteClass(StrEnum):
    DEFAULT = "default"
    AUTH = "auth"
    REFRESH = "refresh"
    REFRESH_CLIENT = "refresh_client"
    CHECKOUT = "checkout"
    REFUNDS = "refunds"
    WEBHOOKS = "webhooks"


def parse_rate_limit(text: str) -> RateLimitItem:
    """One limit such as `120/minute` or `10 per 2 minutes`; ValueError says what is wrong."""
    try:
        items = parse_many(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate limit such as 120/minute or 10/second") from None
    if len(items) != 1:
        raise ValueError(f"{text!r}: give exactly one limit (such as 120/minute)")
    item = items[0]
    if item.amount < 1:
        raise ValueError(f"{text!r}: the limit must allow at least one request")
    if item.get_expiry() > MAX_WINDOW_SECONDS:
        raise ValueError(f"{text!r}: the window may be at most one day")
    return item


def normalized_path(path: str) -> str:
    """`//a//b/` -> `/a/b`, so spellings the services may route alike are classed alike."""
    return _REPEATED_SLASHES.sub("/", path).rstrip("/") or "/"


def is_exempt(path: str) -> bool:
    return path.startswith(HEALTH_PREFIX) or path.rstrip("/") == METRICS_PATH


def route_class(method: str, path: str) -> RouteClass | None:
    """The class of a request, or None when it is exempt from rate limits."""
    if is_exempt(path):
        return None
    path = normalized_path(path)
    if path.startswith(WEBHOOK_PREFIXES):
        return RouteClass.WEBHOOKS
    if method == "POST":
        if path in AUTH_PATHS:
            return RouteClass.AUTH
        if path == REFRESH_PATH:
            return RouteClass.REFRESH
        if path in CHECKOUT_PATHS:
            return RouteClass.CHECKOUT
        if _REFUNDS.match(path):
            return RouteClass.REFUNDS
    return RouteClass.DEFAULT


def ip_client(address: str) -> str:
    """The bucket of a client address: IPv6 clients count by /64 (shared/forwarding.py)."""
    return f"ip:{client_group(address)}"


def user_client(user_id: str) -> str:
    return f"user:{user_id}"


def family_client(family_id: str) -> str:
    """The bucket of a token family: a hash, so neither Redis keys nor logs hold a token's part."""
    return "family:" + hashlib.sha256(family_id.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Rule:
    """One limit applied to one client: a bucket (`<class>/<client>` under the limit's own key)."""

    route_class: RouteClass
    item: RateLimitItem
    client: str

    @property
    def identifiers(self) -> tuple[str, str]:
        return (self.route_class.value, self.client)

    @property
    def window_seconds(self) -> int:
        return self.item.get_expiry()

    @property
    def policy(self) -> str:
        """The IETF draft's quota policy item: `120;w=60`."""
        return f"{self.item.amount};w={self.window_seconds}"


def rules_for(
    request_class: RouteClass,
    limits: Mapping[RouteClass, RateLimitItem],
    ip: str,
    user_id: str | None,
    family_id: str | None = None,
) -> list[Rule]:
    """The buckets a request counts in, its own class first (it refuses before the default is spent)."""
    client = user_client(user_id) if user_id else ip_client(ip)
    if request_class is RouteClass.WEBHOOKS:
        return [Rule(RouteClass.WEBHOOKS, limits[RouteClass.WEBHOOKS], ip_client(ip))]
    if request_class in (RouteClass.REFRESH, RouteClass.REFRESH_CLIENT):
        session = family_client(family_id) if family_id else ip_client(ip)
        return [
            Rule(RouteClass.REFRESH, limits[RouteClass.REFRESH], session),
            Rule(RouteClass.REFRESH_CLIENT, limits[RouteClass.REFRESH_CLIENT], ip_client(ip)),
        ]
    default = Rule(RouteClass.DEFAULT, limits[RouteClass.DEFAULT], client)
    if request_class is RouteClass.DEFAULT:
        return [default]
    own_client = ip_client(ip) if request_class is RouteClass.AUTH else client
    return [Rule(request_class, limits[request_class], own_client), default]


@dataclass(frozen=True)
class Outcome:
    """Where one bucket stands after the request: requests left, and when the next one frees up."""

    rule: Rule
    remaining: int
    reset_at: float  # epoch seconds

    def reset_seconds(self, now: float) -> int:
        return max(0, math.ceil(self.reset_at - now))


@dataclass(frozen=True)
class Decision:
    rules: Sequence[Rule]
    outcomes: Sequence[Outcome]
    refused_by: Outcome | None = None

    @property
    def allowed(self) -> bool:
        return self.refused_by is None

    @property
    def binding(self) -> Outcome:
        """The tightest bucket: the one that refused, else the one with the fewest requests left."""
        if self.refused_by is not None:
            return self.refused_by
        return min(self.outcomes, key=lambda outcome: (outcome.remaining, -outcome.reset_at))

    def headers(self, now: float) -> dict[str, str]:
        """`RateLimit-*` (draft-ietf-httpapi-ratelimit-headers-07) for the tightest bucket, whose
        policy comes first in `RateLimit-Policy`; on refusal also `Retry-After`."""
        binding = self.binding
        reset = binding.reset_seconds(now)
        policies = [binding.rule.policy] + [rule.policy for rule in self.rules if rule != binding.rule]
        headers = {
            "RateLimit-Limit": str(binding.rule.item.amount),
            "RateLimit-Remaining": str(max(0, binding.remaining)),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": ", ".join(policies),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, reset))
        return headers
