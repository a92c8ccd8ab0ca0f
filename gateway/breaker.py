"""One circuit breaker per upstream service, so a dead service fails fast instead of holding requests.

closed: requests flow; `failure_threshold` consecutive failed requests (no connection, or no answer
in time) open it. open: every request is refused at once (503 with Retry-After) for `reset_seconds`.
half_open: then exactly one trial request is let through; its success closes the breaker, its
failure opens it for another `reset_seconds`. Any answer from the service, 5xx included, is a
success: the service is there, and its errors pass through to the client unchanged.

State is per gateway process (each worker learns on its own); nothing is shared or persisted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitOpen(Exception):
    """The upstream is considered down: the request was not sent."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"circuit open; retry in {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1 or reset_seconds <= 0:
            raise ValueError("failure_threshold must be >= 1 and reset_seconds > 0")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._trial_in_flight or self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def acquire(self) -> bool:
        """Admit one request or raise `CircuitOpen`. True when the request is the half-open trial,
        whose caller must end it with `record_success`, `record_failure` or `release_trial`."""
        state = self.state
        if state is BreakerState.CLOSED:
            return False
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        raise CircuitOpen(self.retry_after_seconds())

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        if self._opened_at is not None:  # the trial failed (or a request sent before opening did)
            self._open()
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._open()

    def release_trial(self) -> None:
        """The trial ended without a verdict (the client went away): let the next request try."""
        self._trial_in_flight = False

    def retry_after_seconds(self) -> int:
        """Whole seconds until a trial request will be let through (at least 1)."""
        if self._opened_at is None:
            return 1
        remaining = self.reset_seconds - (self._clock() - self._opened_at)
        return max(1, math.ceil(remaining))

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._trial_in_flight = False
        self._failures = 0


def breakers_for(
    services: Iterable[str], failure_threshold: int, reset_seconds: float
) -> dict[str, CircuitBreaker]:
    return {name: CircuitBreaker(failure_threshold, reset_seconds) for name in services}
