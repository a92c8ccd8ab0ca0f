"""Rate limits as small pieces: parsing and settings, route classes, buckets and keys, headers,
counting in memory, per-user keys only from verified tokens, and Redis (real, skipped when absent)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from limits import RateLimitItem
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.datastructures import Headers

from devstack.stack import free_port
from gateway.ratelimit.limiter import RateLimits, limits_from_settings
from gateway.ratelimit.middleware import RateLimited, verified_user_id
from gateway.ratelimit.policy import (
    Decision,
    Outcome,
    RouteClass,
    Rule,
    normalized_path,
    parse_rate_limit,
    route_class,
    rules_for,
)
from gateway.settings import GatewaySettings
from shared.tokens import StaticKeySet, TokenVerifier

REDIS_URL = "redis://127.0.0.1:6379/0"


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> GatewaySettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    kwargs: dict[str, Any] = {"_env_file": None, "env": "test", "internal_token": "t" * 40}
    return GatewaySettings(**kwargs)


def limits(**per_class: str) -> dict[RouteClass, RateLimitItem]:
    given = {RouteClass(name): parse_rate_limit(value) for name, value in per_class.items()}
    return {cls: given.get(cls, parse_rate_limit("1000/minute")) for cls in RouteClass}


# --- parsing and settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "amount", "window"),
    [
        ("120/minute", 120, 60),
        ("10/second", 10, 1),
        ("5/hour", 5, 3600),
        ("1/day", 1, 86_400),
        ("10 per 2 minutes", 10, 120),
        (" 3/minute ", 3, 60),
    ],
)
def test_parse_rate_limit(text: str, amount: int, window: int) -> None:
    item = parse_rate_limit(text)
    assert (item.amount, item.get_expiry()) == (amount, window)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "not a rate limit"),
        ("fast", "not a rate limit"),
        ("10/fortnight", "not a rate limit"),
        ("0/minute", "at least one"),
        ("5/minute;100/hour", "exactly one"),
        ("5/month", "at most one day"),
    ],
)
def test_parse_rate_limit_refuses_mistakes(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_rate_limit(text)


def test_rate_limit_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = settings(monkeypatch)
    assert {cls: str(item) for cls, item in limits_from_settings(defaults).items()} == {
        RouteClass.DEFAULT: "120 per 1 minute",
        RouteClass.AUTH: "10 per 1 minute",
        RouteClass.REFRESH: "60 per 1 minute",
        RouteClass.REFRESH_CLIENT: "600 per 1 minute",
        RouteClass.CHECKOUT: "10 per 1 minute",
        RouteClass.REFUNDS: "30 per 1 minute",
        RouteClass.WEBHOOKS: "600 per 1 minute",
    }
    assert defaults.rate_limit_key_prefix == "ratelimit"
    assert defaults.rate_limit_redis_timeout_seconds == 0.25


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATE_LIMIT_DEFAULT", "lots"),
        ("RATE_LIMIT_AUTH", "0/minute"),
        ("RATE_LIMIT_REFRESH", "often"),
        ("RATE_LIMIT_REFRESH_CLIENT", "1/second;2/minute"),
        ("RATE_LIMIT_CHECKOUT", "1/second;2/minute"),
        ("RATE_LIMIT_REFUNDS", "3/year"),
        ("RATE_LIMIT_WEBHOOKS", "-1/minute"),
        ("RATE_LIMIT_KEY_PREFIX", "has spaces"),
        ("RATE_LIMIT_KEY_PREFIX", "x" * 65),
        ("RATE_LIMIT_REDIS_TIMEOUT_SECONDS", "0"),
        ("RATE_LIMIT_REDIS_RETRY_SECONDS", "0"),
    ],
)
def test_rate_limit_mistakes_are_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    with pytest.raises(ValidationError, match=name.lower()):
        settings(monkeypatch, **{name: value})


# --- route classes, buckets and keys -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/health", None),
        ("GET", "/health/ready", None),
        ("GET", "/metrics", None),
        ("GET", "/api/v1/products", RouteClass.DEFAULT),
        ("GET", "/no/such/path", RouteClass.DEFAULT),
        ("POST", "/api/v1/auth/login", RouteClass.AUTH),
        ("POST", "/api/v1/auth/register", RouteClass.AUTH),
        ("POST", "/api/v1/auth/refresh", RouteClass.REFRESH),
        ("POST", "/api/v1/auth//refresh/", RouteClass.REFRESH),
        ("GET", "/api/v1/auth/refresh", RouteClass.DEFAULT),
        ("POST", "/api/v1/auth//login/", RouteClass.AUTH),
        ("GET", "/api/v1/auth/login", RouteClass.DEFAULT),
        ("POST", "/api/v1/auth/logout", RouteClass.DEFAULT),
        ("POST", "/api/v1/orders", RouteClass.CHECKOUT),
        ("POST", "/api/v1/orders/", RouteClass.CHECKOUT),
        ("POST", "/api/v1/payments", RouteClass.CHECKOUT),
        ("GET", "/api/v1/orders", RouteClass.DEFAULT),
        ("POST", "/api/v1/orders/abc/cancel", RouteClass.DEFAULT),
        ("POST", "/api/v1/payments/abc/refunds", RouteClass.REFUNDS),
        ("GET", "/api/v1/payments/abc/refunds", RouteClass.DEFAULT),
        ("POST", "/api/v1/payments/webhooks/stripe", RouteClass.WEBHOOKS),
        ("GET", "/api/v1/payments/callbacks/bkash", RouteClass.WEBHOOKS),
        ("POST", "/api/v1/payments/callbacks/nagad", RouteClass.WEBHOOKS),
        ("GET", "/api/v1/payments/webhooks", RouteClass.DEFAULT),
    ],
)
def test_route_class(method: str, path: str, expected: RouteClass | None) -> None:
    assert route_class(method, path) == expected


def test_normalized_path() -> None:
    assert normalized_path("//api//v1/orders/") == "/api/v1/orders"
    assert normalized_path("/") == "/"


def keys(rules: list[Rule]) -> list[tuple[str, str]]:
    return [rule.identifiers for rule in rules]


def test_buckets_per_class_and_client() -> None:
    per_class = limits()
    ip = "203.0.113.9"
    assert keys(rules_for(RouteClass.DEFAULT, per_class, ip, None)) == [("default", f"ip:{ip}")]
    assert keys(rules_for(RouteClass.DEFAULT, per_class, ip, "u1")) == [("default", "user:u1")]
    # Login and register: the class always per IP; the default per client.
    assert keys(rules_for(RouteClass.AUTH, per_class, ip, "u1")) == [
        ("auth", f"ip:{ip}"),
        ("default", "user:u1"),
    ]
    assert keys(rules_for(RouteClass.CHECKOUT, per_class, ip, "u1")) == [
        ("checkout", "user:u1"),
        ("default", "user:u1"),
    ]
    assert keys(rules_for(RouteClass.CHECKOUT, per_class, ip, None)) == [
        ("checkout", f"ip:{ip}"),
        ("default", f"ip:{ip}"),
    ]
    assert keys(rules_for(RouteClass.REFUNDS, per_class, ip, "admin")) == [
        ("refunds", "user:admin"),
        ("default", "user:admin"),
    ]
    # Webhooks: per IP, and not against the default budget.
    assert keys(rules_for(RouteClass.WEBHOOKS, per_class, ip, "u1")) == [("webhooks", f"ip:{ip}")]
    # Refresh: per session (a hash of the family, never the family itself) and per IP, not against
    # the default budget; without a family, per IP in both.
    family = "0123456789abcdef0123456789abcdef"  # pragma: allowlist secret
    session, client = keys(rules_for(RouteClass.REFRESH, per_class, ip, None, family))
    assert session[0] == "refresh"
    assert session[1].startswith("family:")
    assert family not in session[1]
    assert client == ("refresh_client", f"ip:{ip}")
    other = keys(rules_for(RouteClass.REFRESH, per_class, ip, None, "f" * 32))[0]
    assert other != session
    assert keys(rules_for(RouteClass.REFRESH, per_class, ip, None, None)) == [
        ("refresh", f"ip:{ip}"),
        ("refresh_client", f"ip:{ip}"),
    ]


def test_keys_carry_class_client_and_limit() -> None:
    rule = rules_for(RouteClass.AUTH, limits(auth="3/minute"), "198.51.100.7", None)[0]
    assert rule.item.key_for(*rule.identifiers) == "LIMITER/auth/ip:198.51.100.7/3/1/minute"
    assert rule.policy == "3;w=60"


@pytest.mark.parametrize(
    ("first", "second"),
    [("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe"), ("[2001:db8:1:2::7]:443", "2001:db8:1:2::8")],
)
def test_ipv6_clients_count_by_their_64(first: str, second: str) -> None:
    """One subscriber's /64 is one client: walking its 2^64 addresses gains no fresh budget."""
    per_class = limits()
    assert rules_for(RouteClass.AUTH, per_class, first, None) == rules_for(
        RouteClass.AUTH, per_class, second, None
    )
    other = rules_for(RouteClass.AUTH, per_class, "2001:db8:1:3::1", None)
    assert other != rules_for(RouteClass.AUTH, per_class, first, None)
    assert rules_for(RouteClass.AUTH, per_class, "198.51.100.7", None) != rules_for(
        RouteClass.AUTH, per_class, "198.51.100.8", None
    )


# --- headers --------------------------------------------------------------------------------------


def test_headers_describe_the_tightest_bucket() -> None:
    now = 1_000_000.0
    auth, default = rules_for(RouteClass.AUTH, limits(auth="3/minute", default="120/minute"), "ip", None)
    decision = Decision([auth, default], [Outcome(auth, 1, now + 42.2), Outcome(default, 100, now + 1)])
    assert decision.headers(now) == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "1",
        "RateLimit-Reset": "43",
        "RateLimit-Policy": "3;w=60, 120;w=60",
    }
    # Fewer left in the default bucket: it is the tightest now, and its policy comes first.
    decision = Decision([auth, default], [Outcome(auth, 2, now + 5), Outcome(default, 0, now + 7)])
    headers = decision.headers(now)
    assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("120", "0")
    assert headers["RateLimit-Policy"] == "120;w=60, 3;w=60"
    assert "Retry-After" not in headers


def test_refusal_names_the_full_bucket_and_when_to_retry() -> None:
    now = 1_000_000.0
    auth, default = rules_for(RouteClass.AUTH, limits(auth="3/minute"), "ip", None)
    refused = Outcome(auth, 0, now + 12.5)
    decision = Decision([auth, default], [refused], refused)
    assert not decision.allowed
    headers = decision.headers(now)
    assert headers["Retry-After"] == "13"
    assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("3", "0")
    error = RateLimited(decision, now)
    assert (error.status, error.slug) == (429, "rate-limited")
    assert error.headers["Retry-After"] == "13"
    # Never less than a second, even when the bucket frees up right now.
    assert Decision([auth], [Outcome(auth, 0, now)], Outcome(auth, 0, now)).headers(now)["Retry-After"] == "1"


# --- counting in memory ---------------------------------------------------------------------------


async def test_memory_counts_down_then_refuses() -> None:
    rate_limits = RateLimits(limits(default="3/hour"))
    assert rate_limits.state == "memory"
    rules = rules_for(RouteClass.DEFAULT, rate_limits.limits, "198.51.100.1", None)
    remaining = []
    for _ in range(3):
        decision = await rate_limits.decide(rules)
        assert decision.allowed
        remaining.append(int(decision.headers(time.time())["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    refused = await rate_limits.decide(rules)
    assert not refused.allowed
    assert int(refused.headers(time.time())["Retry-After"]) >= 1
    # Another client has its own bucket.
    assert (await rate_limits.decide(rules_for(RouteClass.DEFAULT, rate_limits.limits, "x", None))).allowed


async def test_class_refusal_does_not_spend_the_default_budget() -> None:
    rate_limits = RateLimits(limits(auth="2/minute", default="5/hour"))
    login = rules_for(RouteClass.AUTH, rate_limits.limits, "198.51.100.2", None)
    browse = rules_for(RouteClass.DEFAULT, rate_limits.limits, "198.51.100.2", None)
    assert [(await rate_limits.decide(login)).allowed for _ in range(4)] == [True, True, False, False]
    decision = await rate_limits.decide(browse)
    assert decision.allowed
    assert decision.headers(time.time())["RateLimit-Remaining"] == "2"  # 5 - 2 logins - this one


async def test_the_auth_class_is_exact() -> None:
    """The moving window refuses the (n+1)th request of any window, boundaries included."""
    rate_limits = RateLimits(limits(auth="5/second"))
    login = rules_for(RouteClass.AUTH, rate_limits.limits, "198.51.100.3", None)
    allowed = 0
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        allowed += (await rate_limits.decide(login)).allowed
    assert allowed == 5


# --- per-user buckets only from verified tokens -----------------------------------------------------


def access_token(key: Ed25519PrivateKey, kid: str, subject: str) -> str:
    now = int(time.time())
    claims = {
        "iss": "shop-auth",
        "aud": "shop-api",
        "sub": subject,
        "role": "customer",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})


async def test_user_bucket_only_for_a_verified_token() -> None:
    key, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    rate_limits = RateLimits(limits())

    def auth(value: str) -> Headers:
        return Headers({"authorization": value})

    genuine = access_token(key, "k1", "user-1")
    assert await verified_user_id(rate_limits, auth(f"Bearer {genuine}")) is None  # no verifier yet
    rate_limits.verifier = TokenVerifier(
        StaticKeySet({"k1": key.public_key()}), issuer="shop-auth", audience="shop-api", leeway_seconds=0
    )
    assert await verified_user_id(rate_limits, auth(f"Bearer {genuine}")) == "user-1"
    assert await verified_user_id(rate_limits, auth(f"bearer {genuine}")) == "user-1"
    # Someone else's id in a token the gateway cannot verify never selects that user's bucket.
    forged = access_token(forger, "k1", "user-1")
    assert await verified_user_id(rate_limits, auth(f"Bearer {forged}")) is None
    unsigned = jwt.encode({"sub": "user-1"}, key="", algorithm="none")
    assert await verified_user_id(rate_limits, auth(f"Bearer {unsigned}")) is None
    assert await verified_user_id(rate_limits, auth("Basic dXNlcjpwYXNz")) is None
    assert await verified_user_id(rate_limits, Headers({})) is None


# --- Redis ----------------------------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of its own in the local Redis (skips without one); its keys (and those of
    prefixes extending it) are deleted after."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"test-ratelimit-{uuid.uuid4().hex[:12]}"
    yield prefix
    async for key in client.scan_iter(match=f"{prefix}*"):  # "-other" too
        await client.delete(key)
    await client.aclose()


async def test_replicas_sharing_redis_enforce_one_limit(redis_prefix: str) -> None:
    per_class = limits(default="4/hour", auth="2/minute")
    replicas = [RateLimits(per_class, redis_url=REDIS_URL, key_prefix=redis_prefix) for _ in range(2)]
    async with replicas[0].running(), replicas[1].running():
        assert [replica.state for replica in replicas] == ["redis", "redis"]
        rules = rules_for(RouteClass.DEFAULT, per_class, "192.0.2.7", None)
        outcomes = [(await replicas[n % 2].decide(rules)).allowed for n in range(6)]
        assert outcomes == [True, True, True, True, False, False]
        login = rules_for(RouteClass.AUTH, per_class, "192.0.2.8", None)
        assert [(await replicas[n % 2].decide(login)).allowed for n in range(3)] == [True, True, False]
        # A gateway with another prefix counts apart.
        other = RateLimits(per_class, redis_url=REDIS_URL, key_prefix=redis_prefix + "-other")
        async with other.running():
            assert (await other.decide(rules)).allowed


async def test_unreachable_redis_at_start_up_degrades_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    rate_limits = RateLimits(
        limits(default="2/hour"), redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_retry_seconds=60
    )
    caplog.set_level(logging.INFO, logger="gateway.ratelimit")
    async with rate_limits.running():
        assert rate_limits.state == "degraded"
        rules = rules_for(RouteClass.DEFAULT, rate_limits.limits, "192.0.2.9", None)
        # Served, and still limited: in this process's memory.
        assert [(await rate_limits.decide(rules)).allowed for _ in range(3)] == [True, True, False]
    events = [record.getMessage() for record in caplog.records]
    assert events.count("ratelimit.degraded") == 1
