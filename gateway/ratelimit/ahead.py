"""Requests far from their limit are let through without waiting for Redis, and counted there a moment
later; near the limit every request waits for Redis's verdict, as before.

Waiting for Redis on every request put a round trip (two more processes to wake) on the critical
path of every proxied request: on `bench/gateway.py` it was a third of the latency the gateway
added for one client, and a sixth of its CPU. But a bucket's state only matters near its limit.
So each gateway process remembers Redis's last answer about a bucket (requests left, when it was
told) and, while that answer is fresh (STALE_SECONDS) and leaves more than a margin (a fifth of
the limit, at least MIN_MARGIN), lets a request of the default class through at once. Such
requests are counted in Redis within FLUSH_SECONDS, all of one bucket in one script call and all
buckets in one round trip, and each answer refreshes what the process knows.

Bound: a process runs at most a twentieth of a limit (MAX_AHEAD at most) ahead of Redis for one
bucket; beyond that, and near the limit, it waits for Redis. A bucket shared by N gateway
processes can therefore let at most N twentieths of its limit more through, and only when a
client's requests spread over processes faster than they hear back from Redis. Only the default
class is decided ahead, and only limits above the margin with a twentieth of at least one (the
default 120/minute: 6 ahead, 24 left), so login, checkout and refunds always wait, exactly as
before. A failed count switches the process to its in-memory counters, like any Redis failure.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from gateway.ratelimit.policy import Decision, Outcome, RouteClass, Rule
from gateway.ratelimit.redis_window import RedisSlidingWindows

FLUSH_SECONDS = 0.01
STALE_SECONDS = 1.0
MIN_MARGIN = 10
MAX_AHEAD = 256
MAX_BUCKETS = 10_000


def margin(rule: Rule) -> int:
    """Requests that must be left, per Redis's last answer, to decide without it."""
    return max(MIN_MARGIN, rule.item.amount // 5)


def ahead_max(rule: Rule) -> int:
    """Requests of a bucket this process may let through before Redis has counted them: a
    twentieth of the limit, at most MAX_AHEAD."""
    return min(MAX_AHEAD, rule.item.amount // 20)


def eligible(rule: Rule) -> bool:
    return rule.route_class is RouteClass.DEFAULT and rule.item.amount > margin(rule) and ahead_max(rule) > 0


@dataclass
class Known:
    """Redis's last answer about a bucket, and the requests let through here since that it has
    not counted yet (sent or still to send)."""

    remaining: int
    reset_at: float
    told_at: float  # monotonic
    ahead: int = 0


class CountingAhead:
    def __init__(
        self,
        windows: RedisSlidingWindows,
        timeout_seconds: float,
        on_failure: Callable[[BaseException], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._windows = windows
        self._timeout_seconds = timeout_seconds
        self._on_failure = on_failure
        self._clock = clock
        self._known: OrderedDict[tuple[str, str, str], Known] = OrderedDict()
        self._unsent: dict[tuple[str, str, str], tuple[Rule, int]] = {}
        self._flush: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    @staticmethod
    def _key(rule: Rule) -> tuple[str, str, str]:
        return (rule.route_class.value, rule.client, rule.policy)

    def admit(self, rules: list[Rule]) -> Decision | None:
        """The decision for a request that is far from its limit, counted here and sent to Redis
        shortly; None when it must wait for Redis."""
        if len(rules) != 1 or not eligible(rules[0]):
            return None
        rule = rules[0]
        key = self._key(rule)
        known = self._known.get(key)
        if known is None or known.ahead >= ahead_max(rule) or self._clock() - known.told_at > STALE_SECONDS:
            return None
        left = known.remaining - known.ahead - 1
        if left < margin(rule):
            return None
        known.ahead += 1
        self._known.move_to_end(key)
        _, unsent = self._unsent.get(key, (rule, 0))
        self._unsent[key] = (rule, unsent + 1)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._send_unsent)
        return Decision(rules, [Outcome(rule, left, known.reset_at)])

    def learn(self, decision: Decision) -> None:
        """Redis's verdict on a request that waited for it."""
        for outcome in decision.outcomes:
            if eligible(outcome.rule):
                self._tell(outcome, counted_ahead=0)

    def _tell(self, outcome: Outcome, counted_ahead: int) -> None:
        key = self._key(outcome.rule)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = Known(outcome.remaining, outcome.reset_at, self._clock())
            if len(self._known) > MAX_BUCKETS:
                self._forget_oldest()
        else:
            known.remaining, known.reset_at, known.told_at = (
                outcome.remaining,
                outcome.reset_at,
                self._clock(),
            )
        known.ahead = max(0, known.ahead - counted_ahead)
        self._known.move_to_end(key)

    def _forget_oldest(self) -> None:
        for key, known in self._known.items():
            if not known.ahead:  # one with requests still to count stays
                del self._known[key]
                return

    def _send_unsent(self) -> None:
        self._flush = None
        batch, self._unsent = self._unsent, {}
        if batch:
            task = asyncio.ensure_future(self._send(batch))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: dict[tuple[str, str, str], tuple[Rule, int]]) -> None:
        counts = list(batch.values())
        try:
            async with asyncio.timeout(self._timeout_seconds):
                outcomes = await self._windows.add_all(counts)
        except (RedisError, OSError, TimeoutError) as exc:  # went through uncounted: fall back to memory
            self.forget()
            self._on_failure(exc)
            return
        for (_, amount), outcome in zip(counts, outcomes, strict=True):
            self._tell(outcome, counted_ahead=amount)

    def forget(self) -> None:
        """Drop what is known (Redis failed, or is back after failing)."""
        self._known.clear()

    async def close(self) -> None:
        """Count what is still to count, then stop."""
        if self._flush is not None:
            self._flush.cancel()
        self._send_unsent()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
