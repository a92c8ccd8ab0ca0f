"""The counters: in Redis when `REDIS_URL` is set (one limit across every gateway replica), else in
this process's memory, and in memory too while Redis fails.

Every call to Redis is bounded by `RATE_LIMIT_REDIS_TIMEOUT_SECONDS`. The first call that fails or
overruns switches this process to its in-memory counters: the shop keeps serving, each replica
enforcing the limits on its own (N replicas let up to N times a limit through while it lasts),
rather than refusing everyone (failing closed) or limiting no one. `ratelimit.degraded` is logged
once per transition; every `RATE_LIMIT_REDIS_RETRY_SECONDS` a ping tries Redis again, and the first
that answers switches back (`ratelimit.recovered`). The state shows in `GET /health`
(`rate_limits`: `redis`, `memory` or `degraded`) and in the `rate_limit_storage_degraded` gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

from fastapi import FastAPI
from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter, RateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.ratelimit.ahead import CountingAhead
from gateway.ratelimit.policy import Decision, Outcome, RouteClass, Rule, parse_rate_limit
from gateway.ratelimit.redis_window import RedisSlidingWindows
from gateway.ratelimit.users import VerifiedTokens
from gateway.settings import GatewaySettings
from shared.app import prefetched_jwks_verifier_lifespan
from shared.logging import log_event
from shared.tokens import TokenVerifier

StorageState = Literal["redis", "memory", "degraded"]
# What a failing or unreachable Redis raises (asyncio.timeout raises the builtin TimeoutError).
STORAGE_ERRORS = (RedisError, OSError, TimeoutError, StorageError)

T = TypeVar("T")

logger = logging.getLogger("gateway.ratelimit")


def limits_from_settings(settings: GatewaySettings) -> dict[RouteClass, RateLimitItem]:
    return {
        RouteClass.DEFAULT: parse_rate_limit(settings.rate_limit_default),
        RouteClass.AUTH: parse_rate_limit(settings.rate_limit_auth),
        RouteClass.REFRESH: parse_rate_limit(settings.rate_limit_refresh),
        RouteClass.REFRESH_CLIENT: parse_rate_limit(settings.rate_limit_refresh_client),
        RouteClass.CHECKOUT: parse_rate_limit(settings.rate_limit_checkout),
        RouteClass.REFUNDS: parse_rate_limit(settings.rate_limit_refunds),
        RouteClass.WEBHOOKS: parse_rate_limit(settings.rate_limit_webhooks),
    }


class Counters:
    """One storage with two strategies: a moving window for `auth`, exact (it keeps a timestamp per
    request), where each guess at a password counts; a sliding-window counter elsewhere, which keeps
    two counters per bucket and may let a request or so more through around a window boundary.

    With `windows` (Redis), the sliding-window counters are counted and read back in one round trip
    (gateway/ratelimit/redis_window.py) instead of `limits`' two."""

    def __init__(
        self, storage: Storage, timeout_seconds: float | None, windows: RedisSlidingWindows | None = None
    ) -> None:
        self.storage = storage
        self._exact = MovingWindowRateLimiter(storage)
        self._approximate = SlidingWindowCounterRateLimiter(storage)
        self._windows = windows
        self._timeout_seconds = timeout_seconds

    def _strategy(self, rule: Rule) -> RateLimiter:
        return self._exact if rule.route_class is RouteClass.AUTH else self._approximate

    async def _bounded(self, call: Awaitable[T]) -> T:
        if self._timeout_seconds is None:  # memory: nothing to wait for
            return await call
        async with asyncio.timeout(self._timeout_seconds):
            return await call

    async def _hit(self, rule: Rule) -> tuple[bool, Outcome]:
        """Count the request in the rule's bucket if it fits; whether it did, and the bucket after."""
        if self._windows is not None and rule.route_class is not RouteClass.AUTH:
            return await self._bounded(self._windows.hit(rule))
        strategy = self._strategy(rule)
        fits = await self._bounded(strategy.hit(rule.item, *rule.identifiers))
        stats = await self._bounded(strategy.get_window_stats(rule.item, *rule.identifiers))
        return fits, Outcome(rule, stats.remaining, stats.reset_time)

    async def decide(self, rules: Sequence[Rule]) -> Decision:
        """Count the request in each bucket in turn; the first full one refuses it (and the buckets
        after it are not spent)."""
        outcomes = []
        for rule in rules:
            fits, outcome = await self._hit(rule)
            if not fits:
                refused = Outcome(rule, 0, outcome.reset_at)
                return Decision(rules, [refused], refused)
            outcomes.append(outcome)
        return Decision(rules, outcomes)


class RateLimits:
    """The limits of every route class, and where their counters live. Nothing connects before
    `running()`, which the gateway's lifespan enters."""

    def __init__(
        self,
        limits: Mapping[RouteClass, RateLimitItem],
        *,
        redis_url: str | None = None,
        key_prefix: str = "ratelimit",
        redis_timeout_seconds: float = 0.25,
        redis_retry_seconds: float = 5.0,
        count_ahead: bool = True,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.limits = dict(limits)
        # Set by the lifespan; without one (or before it) every request counts by IP.
        self.verifier: TokenVerifier | None = None
        self.verified_tokens = VerifiedTokens()  # the verifier's recent verdicts (gateway/ratelimit/users.py)
        self._memory = Counters(MemoryStorage(), None)
        self._redis_url = redis_url
        self._key_prefix = key_prefix
        self._redis_timeout_seconds = redis_timeout_seconds
        self._redis_retry_seconds = redis_retry_seconds
        self._count_ahead = count_ahead
        self._redis: Counters | None = None
        self._ahead: CountingAhead | None = None
        self._degraded = False
        self._degraded_gauge = Gauge(
            "rate_limit_storage_degraded",
            "1 while Redis fails and this gateway process counts rate limits in its own memory.",
            registry=registry,
        )
        self._refusals = Counter(
            "rate_limit_refusals_total",
            "Requests refused with 429 by a rate limit, by the route class whose bucket was full.",
            ["route_class"],
            registry=registry,
        )

    @classmethod
    def from_settings(
        cls, settings: GatewaySettings, registry: CollectorRegistry | None = None
    ) -> RateLimits:
        return cls(
            limits_from_settings(settings),
            redis_url=settings.redis_url,
            key_prefix=settings.rate_limit_key_prefix,
            redis_timeout_seconds=settings.rate_limit_redis_timeout_seconds,
            redis_retry_seconds=settings.rate_limit_redis_retry_seconds,
            count_ahead=settings.rate_limit_count_ahead,
            registry=registry,
        )

    @property
    def state(self) -> StorageState:
        if self._redis_url is None:
            return "memory"
        return "degraded" if self._degraded or self._redis is None else "redis"

    async def decide(self, rules: Sequence[Rule]) -> Decision:
        """Count a request: in Redis while it works, otherwise in memory (never refused for lack of
        Redis). Far from its limit, a request is let through before Redis has counted it
        (gateway/ratelimit/ahead.py)."""
        redis, ahead = self._redis, self._ahead
        if redis is not None and not self._degraded:
            if ahead is not None and (decided := ahead.admit(list(rules))) is not None:
                return decided
            try:
                decision = await redis.decide(rules)
            except STORAGE_ERRORS as exc:
                self._degrade(type(exc).__name__)
            else:
                if ahead is not None:
                    ahead.learn(decision)
                return self._counted(decision)
        return self._counted(await self._memory.decide(rules))

    def _counted(self, decision: Decision) -> Decision:
        if decision.refused_by is not None:
            self._refusals.labels(decision.refused_by.rule.route_class.value).inc()
        return decision

    def _degrade(self, error: str) -> None:
        if self._degraded:
            return  # one line per transition, not one per request
        self._degraded = True
        self._degraded_gauge.set(1)
        if self._ahead is not None:
            self._ahead.forget()
        log_event(
            logger,
            "ratelimit.degraded",
            logging.WARNING,
            error=error,
            fallback="memory",
            retry_seconds=self._redis_retry_seconds,
        )

    async def _recover(self) -> None:
        # Counts kept in memory meanwhile are dropped: Redis is again the one source of truth.
        await self._memory.storage.reset()
        if self._ahead is not None:
            self._ahead.forget()  # learnt again from Redis's next answers
        self._degraded = False
        self._degraded_gauge.set(0)
        log_event(logger, "ratelimit.recovered", storage="redis")

    def _described_limits(self) -> dict[str, str]:
        return {cls.value: f"{item.amount};w={item.get_expiry()}" for cls, item in self.limits.items()}

    async def _ping(self, client: Redis) -> str | None:
        """None when Redis answers in time, else the error's name."""
        try:
            async with asyncio.timeout(self._redis_timeout_seconds):
                await client.ping()
        except STORAGE_ERRORS as exc:
            return type(exc).__name__
        return None

    async def _retry_while_degraded(self, client: Redis) -> None:
        while True:
            await asyncio.sleep(self._redis_retry_seconds)
            if self._degraded and await self._ping(client) is None:
                await self._recover()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Open Redis (when configured) and keep trying it again while it fails. An unreachable
        Redis at start-up does not stop the gateway: it starts degraded."""
        if self._redis_url is None:
            log_event(logger, "ratelimit.started", storage="memory", limits=self._described_limits())
            yield
            return
        timeout = self._redis_timeout_seconds
        # One immediate retry on a fresh connection (a pooled one may be stale after a Redis restart);
        # redis-py's default (10 retries with backoff) would outlast the bound on every call.
        pool = ConnectionPool.from_url(
            self._redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        client = Redis(connection_pool=pool)
        # The connections come from `pool`; the URI only selects the redis-py implementation.
        options: dict[str, Any] = {"connection_pool": pool}
        storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=self._key_prefix, **options
        )
        windows = RedisSlidingWindows(client, self._key_prefix)
        self._redis = Counters(storage, timeout, windows)
        if self._count_ahead:
            self._ahead = CountingAhead(windows, timeout, lambda exc: self._degrade(type(exc).__name__))
        error = await self._ping(client)
        if error is not None:
            self._degrade(error)
        log_event(
            logger,
            "ratelimit.started",
            storage=self.state,
            key_prefix=self._key_prefix,
            limits=self._described_limits(),
        )
        retrying = asyncio.create_task(self._retry_while_degraded(client))
        try:
            yield
        finally:
            retrying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retrying
            ahead, self._ahead = self._ahead, None
            if ahead is not None:
                await ahead.close()
            self._redis = None
            await client.aclose()
            await pool.aclose()


@asynccontextmanager
async def rate_limit_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Verify access tokens (to count per user) and run the counters of `app.state.rate_limits`.

    The gateway serves without Redis (rate limits fall back to memory; what else uses Redis decides
    for itself per request), so Redis is no readiness check here (`redis_lifespan` registers one): a
    shared Redis going down would otherwise take every gateway replica out of rotation at once and
    close the shop. The state shows in `GET /health` instead. Enter this lifespan after
    `redis_lifespan`.
    """
    limits: RateLimits = app.state.rate_limits
    app.state.readiness_checks.pop("redis", None)
    async with prefetched_jwks_verifier_lifespan(app), limits.running():
        limits.verifier = app.state.token_verifier
        try:
            yield
        finally:
            limits.verifier = None
