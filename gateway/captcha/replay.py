"""A solution is accepted once: each accepted one is claimed here until it could no longer be valid.

With REDIS_URL the claims are shared by every gateway process (`SET NX EX`: atomic, so two requests
racing with one solution cannot both win); without it they live in this process's memory, which is
right for a single gateway process only.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.captcha.verdicts import CaptchaUnavailable
from shared.logging import log_event

KEY_PREFIX = "captcha:used:"

logger = logging.getLogger("gateway.captcha")


class ReplayGuard(Protocol):
    async def claim(self, key: str, ttl_seconds: int) -> bool:
        """True the first time `key` is claimed within `ttl_seconds`, False afterwards."""
        ...


class MemoryReplayGuard:
    """Claims in this process, each forgotten once its time is up (a heap orders them by expiry)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        now = self._clock()
        self._forget_expired(now)
        if key in self._expiry:
            return False
        expires = now + ttl_seconds
        self._expiry[key] = expires
        heapq.heappush(self._heap, (expires, key))
        return True

    def _forget_expired(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _, key = heapq.heappop(self._heap)
            self._expiry.pop(key, None)


class RedisReplayGuard:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        try:
            created = await self._redis.set(KEY_PREFIX + key, b"1", nx=True, ex=max(1, ttl_seconds))
        except RedisError as exc:
            # Without the store a solution could be used twice: fail closed.
            log_event(logger, "captcha.replay_store_unavailable", logging.WARNING, error=type(exc).__name__)
            raise CaptchaUnavailable from exc
        return bool(created)
