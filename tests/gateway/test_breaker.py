"""The circuit breaker's states, and the resilience settings (per-route upstream timeouts)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gateway.breaker import BreakerState, CircuitBreaker, CircuitOpen
from gateway.proxy import client_timeout, route_timeout, route_timeouts
from gateway.settings import GatewaySettings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(failures: int = 3, reset: float = 10.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(failures, reset, clock=clock), clock


def fail(times: int, target: CircuitBreaker) -> None:
    for _ in range(times):
        target.acquire()
        target.record_failure()


def test_closed_admits_every_request_and_none_is_a_trial() -> None:
    closed, _ = breaker()
    assert closed.state is BreakerState.CLOSED
    assert [closed.acquire() for _ in range(5)] == [False] * 5


def test_opens_after_consecutive_failures_and_refuses_without_trying() -> None:
    target, _ = breaker(failures=3)
    fail(2, target)
    states = [target.state]
    fail(1, target)
    states.append(target.state)
    assert states == [BreakerState.CLOSED, BreakerState.OPEN]
    with pytest.raises(CircuitOpen) as refused:
        target.acquire()
    assert refused.value.retry_after_seconds == 10


def test_a_success_resets_the_count_of_failures() -> None:
    target, _ = breaker(failures=3)
    fail(2, target)
    target.acquire()
    target.record_success()
    fail(2, target)
    assert target.state is BreakerState.CLOSED


def test_retry_after_counts_down_in_whole_seconds() -> None:
    target, clock = breaker(failures=1, reset=10)
    fail(1, target)
    clock.now += 7.5
    assert target.retry_after_seconds() == 3
    clock.now += 2.9
    assert target.retry_after_seconds() == 1


def test_half_open_after_the_reset_time_admits_exactly_one_trial() -> None:
    target, clock = breaker(failures=1, reset=10)
    fail(1, target)
    clock.now += 10
    assert target.state is BreakerState.HALF_OPEN
    assert target.acquire() is True
    with pytest.raises(CircuitOpen):
        target.acquire()
    assert target.state is BreakerState.HALF_OPEN


def test_a_successful_trial_closes_the_breaker() -> None:
    target, clock = breaker(failures=1, reset=10)
    fail(1, target)
    clock.now += 10
    assert target.acquire() is True
    target.record_success()
    assert target.state is BreakerState.CLOSED
    assert target.acquire() is False


def test_a_failed_trial_opens_the_breaker_for_another_full_period() -> None:
    target, clock = breaker(failures=2, reset=10)
    fail(2, target)
    clock.now += 10
    assert target.acquire() is True
    target.record_failure()
    assert target.state is BreakerState.OPEN
    assert target.retry_after_seconds() == 10
    clock.now += 9.9
    with pytest.raises(CircuitOpen):
        target.acquire()


def test_a_trial_abandoned_without_verdict_lets_the_next_request_try() -> None:
    target, clock = breaker(failures=1, reset=10)
    fail(1, target)
    clock.now += 10
    assert target.acquire() is True
    target.release_trial()
    assert target.acquire() is True


def test_a_late_failure_of_a_request_sent_before_opening_keeps_it_open() -> None:
    target, clock = breaker(failures=1, reset=10)
    target.acquire()  # sent while closed, still in flight
    fail(1, target)
    clock.now += 5
    target.record_failure()  # the first one fails now
    assert target.state is BreakerState.OPEN
    assert target.retry_after_seconds() == 10


@pytest.mark.parametrize(("failures", "reset"), [(0, 10.0), (3, 0.0)])
def test_nonsense_parameters_are_refused(failures: int, reset: float) -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failures, reset)


# --- settings and per-route timeouts ---------------------------------------------------------------


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> GatewaySettings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    kwargs: dict[str, Any] = {"_env_file": None, "env": "test", "internal_token": "t" * 40}
    return GatewaySettings(**kwargs)


def test_resilience_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = settings(monkeypatch)
    assert (defaults.breaker_failures, defaults.breaker_reset_seconds) == (5, 10.0)
    assert defaults.upstream_route_timeouts == {}
    default = client_timeout(defaults, defaults.upstream_read_timeout_seconds)
    assert route_timeout(route_timeouts(defaults), "/api/v1/payments", default) is default
    assert (default.sock_read, default.sock_connect, default.connect, default.total) == (30.0, 2.0, 2.0, None)


def test_route_timeouts_apply_to_the_longest_matching_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = settings(
        monkeypatch,
        UPSTREAM_ROUTE_TIMEOUTS="/api/v1/payments=40, /api/v1/payments/webhooks/=5.5",
        UPSTREAM_CONNECT_TIMEOUT_SECONDS="1.5",
    )
    assert parsed.upstream_route_timeouts == {"/api/v1/payments": 40.0, "/api/v1/payments/webhooks": 5.5}
    timeouts = route_timeouts(parsed)
    default = client_timeout(parsed, parsed.upstream_read_timeout_seconds)
    payments = route_timeout(timeouts, "/api/v1/payments/665f1c2ab8e4d1a9c3f0b7d2", default)
    # The read bound per route; getting a connection and connecting keep the configured bound.
    assert (payments.sock_read, payments.sock_connect, payments.connect) == (40.0, 1.5, 1.5)
    assert payments.total is None  # answers may stream: no bound on the whole exchange
    webhook = route_timeout(timeouts, "/api/v1/payments/webhooks/stripe", default)
    assert webhook.sock_read == 5.5
    assert route_timeout(timeouts, "/api/v1/paymentsX", default) is default


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UPSTREAM_ROUTE_TIMEOUTS", "api/v1/payments=40"),
        ("UPSTREAM_ROUTE_TIMEOUTS", "/api/v1/payments=forty"),
        ("UPSTREAM_ROUTE_TIMEOUTS", "/api/v1/payments=0"),
        ("UPSTREAM_ROUTE_TIMEOUTS", "/api/v1/payments=601"),
        ("BREAKER_FAILURES", "0"),
        ("BREAKER_RESET_SECONDS", "0"),
    ],
)
def test_mistakes_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    with pytest.raises(ValidationError):
        settings(monkeypatch, **{name: value})
