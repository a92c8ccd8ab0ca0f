"""bKash's merchant token, one for every replica when Redis is configured.

bKash lets a merchant renew its token only about twice an hour, so replicas must not each keep (and
renew) their own. With REDIS_URL set, the token lives in Redis under BKASH_REDIS_PREFIX and a
hash of the app key and host; the replica that finds it due holds a short lease (`SET NX PX`) while
it renews it, and the others wait for the new one to appear. Each process also keeps the token it
last read, so a call costs no Redis round trip until the token is due. Without Redis, or while Redis
fails, each process keeps its own (`bkash.token_cache_degraded`). Within a process one renewal runs
at a time however many calls wait.

Times are wall-clock seconds (`time.time()`): they are compared across processes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

from services.payment.providers.bkash.answers import BkashError
from shared.logging import log_event

logger = logging.getLogger("payment.bkash")

FIRST_POLL_SECONDS, MAX_POLL_SECONDS = 0.05, 0.5
# Deletes the shared token only if it is still the one refused (another replica may have renewed it).
_DISCARD_IF_SAME = """
if redis.call('HGET', KEYS[1], 'id_token') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Releases the renewal lease only if it is still ours (it may have expired and passed to another).
_RELEASE_IF_OURS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Token:
    id_token: str
    refresh_token: str | None
    renew_at: float  # from then on it is renewed (a few minutes before it expires)
    expires_at: float

    def fresh(self) -> bool:
        return time.time() < self.renew_at


Renew = Callable[[Token | None], Awaitable[Token]]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def redis_key(prefix: str, app_key: str, base_url: str) -> str:
    """One key per merchant app and bKash host; the app key itself is not written to Redis."""
    digest = hashlib.sha256(f"{app_key}\n{base_url}".encode()).hexdigest()[:24]
    return f"{prefix}:{digest}"


class TokenCache:
    """The current id_token: this process's copy, else Redis's, else renewed once (`renew`)."""

    def __init__(self, renew: Renew, *, redis: Redis | None, key: str, lease_seconds: float) -> None:
        self._renew = renew
        self._redis = redis
        self._key = key
        self._lease_key = f"{key}:renewing"
        self._lease_seconds = lease_seconds
        self._local: Token | None = None
        self._lock = asyncio.Lock()  # one renewal (or Redis read) at a time in this process

    async def id_token(self) -> str:
        token = self._local
        if token is not None and token.fresh():
            return token.id_token
        async with self._lock:
            token = self._local
            if token is None or not token.fresh():
                self._local = token = await self._current(token)
            return token.id_token

    async def discard(self, id_token: str) -> None:
        """bKash refused this token (HTTP 401): forget it here and, if still there, in Redis."""
        if self._local is not None and self._local.id_token == id_token:
            self._local = None
        if self._redis is None:
            return
        try:
            await self._redis.eval(_DISCARD_IF_SAME, 1, self._key, id_token)
        except RedisError as error:
            self._degraded(error)

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _current(self, stale: Token | None) -> Token:
        if self._redis is None:
            return await self._renew(stale)
        try:
            return await self._shared(self._redis, stale)
        except RedisError as error:
            self._degraded(error)
            return await self._renew(stale)

    async def _shared(self, redis: Redis, stale: Token | None) -> Token:
        """Redis's token if fresh; else renew it under the lease, or wait for whoever holds it."""
        deadline = time.monotonic() + 2 * self._lease_seconds
        pause = FIRST_POLL_SECONDS
        while True:
            found = await self._read(redis)
            if found is not None and found.fresh():
                return found
            lease = secrets.token_hex(16)
            if await redis.set(self._lease_key, lease, nx=True, px=int(self._lease_seconds * 1000)):
                try:
                    return await self._renew_shared(redis, found or stale)
                finally:
                    await self._release(redis, lease)
            if time.monotonic() >= deadline:
                raise BkashError(
                    "Another replica is renewing the bKash token and has not finished.", retryable=True
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_POLL_SECONDS)

    async def _renew_shared(self, redis: Redis, stale: Token | None) -> Token:
        found = await self._read(redis)
        if found is not None and found.fresh():
            return found  # renewed by another replica between our read and our lease
        token = await self._renew(stale)
        lifetime_ms = max(1, int((token.expires_at - time.time()) * 1000))
        fields = {"id_token": token.id_token, "refresh_token": token.refresh_token or ""}
        fields |= {"renew_at": repr(token.renew_at), "expires_at": repr(token.expires_at)}
        try:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.delete(self._key)
                for name, value in fields.items():
                    pipe.hset(self._key, name, value)
                pipe.pexpire(self._key, lifetime_ms)
                await pipe.execute()
        except RedisError as error:
            self._degraded(error)  # the token is good all the same: never renewed twice for this
        return token

    async def _release(self, redis: Redis, lease: str) -> None:
        try:
            await redis.eval(_RELEASE_IF_OURS, 1, self._lease_key, lease)
        except RedisError as error:
            self._degraded(error)  # the lease expires by itself

    async def _read(self, redis: Redis) -> Token | None:
        stored = await redis.hgetall(self._key)
        try:
            fields = {_text(key): _text(value) for key, value in stored.items()}
            return Token(
                fields["id_token"],
                fields["refresh_token"] or None,
                float(fields["renew_at"]),
                float(fields["expires_at"]),
            )
        except (KeyError, ValueError):
            return None  # absent (expired) or not ours to read: renewed anew

    def _degraded(self, error: RedisError) -> None:
        log_event(logger, "bkash.token_cache_degraded", logging.WARNING, error=type(error).__name__)
