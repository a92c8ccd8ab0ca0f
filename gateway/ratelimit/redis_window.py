"""The sliding-window counter in Redis in one round trip: count the request and read the window back.

`limits` needs two calls for this (`hit`, then `get_window_stats` for the RateLimit-* headers), and
every request pays for both: on `bench/gateway.py` the second call was a third of the gateway's
Redis time. This script is `limits`' own acquire script (same keys, same arithmetic, so replicas
running either agree on every count) returning the window as it stands after the request; the
headers are derived from it exactly as `limits` derives them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from gateway.ratelimit.policy import Outcome, Rule

# limits/resources/redis/lua_scripts/acquire_sliding_window.lua, which returns only whether the
# request fits, extended to return {fits, previous count, previous TTL, current count, current TTL}
# (TTLs in milliseconds), and with ARGV[4] = 1 to count `amount` requests that were already let
# through (gateway/ratelimit/ahead.py) whether or not they fit.
ACQUIRE_AND_READ = """
local limit = tonumber(ARGV[1])
local expiry = tonumber(ARGV[2]) * 1000
local amount = tonumber(ARGV[3])
local regardless = tonumber(ARGV[4]) == 1

local current_ttl = tonumber(redis.call('pttl', KEYS[2]))
if current_ttl > 0 and current_ttl < expiry then
    -- Current window expired, shift it to the previous window
    redis.call('rename', KEYS[2], KEYS[1])
    redis.call('set', KEYS[2], 0, 'PX', current_ttl + expiry)
end

local previous_count = tonumber(redis.call('get', KEYS[1])) or 0
local previous_ttl = tonumber(redis.call('pttl', KEYS[1])) or 0
local current_count = tonumber(redis.call('get', KEYS[2])) or 0
current_ttl = tonumber(redis.call('pttl', KEYS[2])) or 0
if previous_ttl <= 0 then
    previous_ttl = 0
end
if current_ttl <= 0 then
    current_ttl = 0
end
local weighted_count = math.floor(previous_count * previous_ttl / expiry) + current_count

if not regardless and (amount > limit or (weighted_count + amount) > limit) then
    return {0, previous_count, previous_ttl, current_count, current_ttl}
end
if redis.call('exists', KEYS[2]) == 1 then
    current_count = redis.call('incrby', KEYS[2], amount)
else
    redis.call('set', KEYS[2], amount, 'PX', expiry * 2)
    current_count = amount
    current_ttl = expiry * 2
end
return {1, previous_count, previous_ttl, current_count, current_ttl}
"""


class RedisSlidingWindows:
    """Sliding-window counters under `key_prefix`, laid out as `limits`' RedisStorage lays them out."""

    def __init__(self, client: Redis, key_prefix: str) -> None:
        self._client = client
        self._script = client.register_script(ACQUIRE_AND_READ)
        self._key_prefix = key_prefix

    def keys(self, rule: Rule) -> list[str]:
        """[previous window, current window]: `limits`' `{key}/-1` and `{key}`, prefixed."""
        current = f"{self._key_prefix}:{{{rule.item.key_for(*rule.identifiers)}}}"
        return [f"{current}/-1", current]

    def args(self, rule: Rule, amount: int = 1, regardless: bool = False) -> list[int]:
        return [rule.item.amount, rule.item.get_expiry(), amount, int(regardless)]

    async def hit(self, rule: Rule) -> tuple[bool, Outcome]:
        """Count one request in the rule's bucket if it fits; whether it did, and the bucket after."""
        reply: list[Any] = await self._script(keys=self.keys(rule), args=self.args(rule))
        return read_reply(rule, reply)

    async def add_all(self, counts: Sequence[tuple[Rule, int]]) -> list[Outcome]:
        """Count requests already let through, `amount` per rule, in one round trip; each bucket after."""
        for attempt in range(2):
            async with self._client.pipeline(transaction=False) as pipe:
                for rule, amount in counts:
                    pipe.evalsha(
                        self._script.sha, 2, *self.keys(rule), *self.args(rule, amount, regardless=True)
                    )
                replies = await pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(reply, NoScriptError) for reply in replies):
                await self._client.script_load(ACQUIRE_AND_READ)  # Redis restarted, or was flushed
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            break
        return [read_reply(rule, reply)[1] for (rule, _), reply in zip(counts, replies, strict=True)]


def read_reply(rule: Rule, reply: Sequence[Any]) -> tuple[bool, Outcome]:
    fits, previous_count, previous_ttl_ms, current_count, current_ttl_ms = (int(v) for v in reply)
    outcome = window_outcome(
        rule, previous_count, previous_ttl_ms / 1000, current_count, current_ttl_ms / 1000, time.time()
    )
    return bool(fits), outcome


def window_outcome(
    rule: Rule,
    previous_count: int,
    previous_expires_in: float,
    current_count: int,
    current_expires_in: float,
    now: float,
) -> Outcome:
    """Requests left and the next reset, as `limits`' SlidingWindowCounterRateLimiter.get_window_stats."""
    expiry = rule.item.get_expiry()
    weighted = previous_count * previous_expires_in / expiry + current_count
    remaining = max(0, rule.item.amount - math.floor(weighted))
    if not (previous_count or current_count):
        return Outcome(rule, remaining, now)
    previous_reset_in = previous_expires_in % (expiry / previous_count) if previous_count else math.inf
    current_reset_in = current_expires_in % expiry if current_count else math.inf
    return Outcome(rule, remaining, now + min(previous_reset_in, current_reset_in))
