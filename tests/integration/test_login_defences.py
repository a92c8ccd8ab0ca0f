"""Brute-force defences: CAPTCHA after repeated failures, then a temporary lockout (429).

Per-account rules are tested through the gateway. Per-IP rules need distinct client addresses,
which only the gateway may assert: those tests call an auth process of their own directly, with
the internal token the gateway would send, and low per-IP thresholds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack
from shared.forwarding import CAPTCHA_VERIFIED_HEADER, INTERNAL_TOKEN_HEADER
from tests.builders import register
from tests.conftest import stack_settings

WRONG = "definitely not the password"


async def attempt(
    client: httpx.AsyncClient, email: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers or {}
    )


async def test_captcha_is_demanded_after_repeated_failures(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    for _ in range(3):  # LOGIN_CAPTCHA_AFTER_FAILURES of the test stack
        assert (await attempt(gateway, account.email, WRONG)).status_code == 401
    response = await attempt(gateway, account.email, account.password)
    assert response.status_code == 428
    assert response.json()["type"].endswith("/captcha-required")


async def test_clients_cannot_claim_a_verified_captcha(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    for _ in range(3):
        await attempt(gateway, account.email, WRONG)
    response = await attempt(gateway, account.email, account.password, {CAPTCHA_VERIFIED_HEADER: "true"})
    assert response.status_code == 428


@pytest.fixture(scope="module")
def strict_auth(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second auth process on the same database, with low per-IP thresholds."""
    root: Path = tmp_path_factory.mktemp("strict-auth")
    strict = Stack(stack_settings(root / "data"), env={}, log_dir=root / "logs")
    strict.child_env = {**stack.child_env, "DATA_DIR": str(stack.settings.data_dir)}
    try:
        strict.start_app(
            "auth",
            env={
                "LOGIN_IP_CAPTCHA_AFTER_FAILURES": "4",
                "LOGIN_IP_LOCKOUT_AFTER_FAILURES": "6",
                "LOGIN_CAPTCHA_AFTER_FAILURES": "3",
                "LOGIN_LOCKOUT_AFTER_FAILURES": "5",
                "BOOTSTRAP_ADMIN_EMAIL": "",
                "BOOTSTRAP_ADMIN_PASSWORD": "",
            },
        )
        yield strict
    finally:
        strict.stop()


@pytest.fixture
async def direct(strict_auth: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=strict_auth.url_of("auth"), timeout=30) as client:
        yield client


def as_gateway(stack: Stack, ip: str, *, captcha: bool = False) -> dict[str, str]:
    headers = {INTERNAL_TOKEN_HEADER: stack.child_env["INTERNAL_TOKEN"], "X-Forwarded-For": ip}
    if captcha:
        headers[CAPTCHA_VERIFIED_HEADER] = "true"
    return headers


async def test_account_is_locked_with_429_even_for_the_right_password(
    gateway: httpx.AsyncClient, direct: httpx.AsyncClient, strict_auth: Stack
) -> None:
    account = await register(gateway)
    for attempt_number in range(5):  # 3 plain failures, then 2 more with a verified CAPTCHA
        headers = as_gateway(strict_auth, f"198.51.100.{attempt_number}", captcha=attempt_number >= 3)
        assert (await attempt(direct, account.email, WRONG, headers)).status_code == 401
    locked = await attempt(
        direct, account.email, account.password, as_gateway(strict_auth, "198.51.100.99", captcha=True)
    )
    assert locked.status_code == 429
    assert locked.json()["type"] == "/problems/too-many-attempts"
    assert 0 < int(locked.headers["retry-after"]) <= 900


async def test_a_verified_captcha_lets_the_owner_in_and_success_resets_the_count(
    gateway: httpx.AsyncClient, direct: httpx.AsyncClient, strict_auth: Stack
) -> None:
    account = await register(gateway)
    for _ in range(3):
        await attempt(direct, account.email, WRONG, as_gateway(strict_auth, "203.0.113.10"))
    assert (
        await attempt(direct, account.email, account.password, as_gateway(strict_auth, "203.0.113.11"))
    ).status_code == 428
    ok = await attempt(
        direct, account.email, account.password, as_gateway(strict_auth, "203.0.113.11", captcha=True)
    )
    assert ok.status_code == 200
    # The count was reset: one more failure does not bring the CAPTCHA back.
    await attempt(direct, account.email, WRONG, as_gateway(strict_auth, "203.0.113.12"))
    assert (
        await attempt(direct, account.email, account.password, as_gateway(strict_auth, "203.0.113.12"))
    ).status_code == 200


async def test_failures_from_one_ip_across_accounts_trigger_captcha_for_that_ip_only(
    gateway: httpx.AsyncClient, direct: httpx.AsyncClient, strict_auth: Stack
) -> None:
    victims = [await register(gateway) for _ in range(4)]
    for victim in victims:  # one failure per account, four from the same address
        assert (
            await attempt(direct, victim.email, WRONG, as_gateway(strict_auth, "192.0.2.50"))
        ).status_code == 401
    fresh = await register(gateway)
    from_attacker = await attempt(direct, fresh.email, fresh.password, as_gateway(strict_auth, "192.0.2.50"))
    from_elsewhere = await attempt(direct, fresh.email, fresh.password, as_gateway(strict_auth, "192.0.2.51"))
    assert from_attacker.status_code == 428
    assert from_elsewhere.status_code == 200


async def test_forwarded_addresses_are_ignored_without_the_internal_token(
    gateway: httpx.AsyncClient, direct: httpx.AsyncClient
) -> None:
    """A caller reaching auth directly cannot pick a fresh IP per attempt to dodge the IP counter."""
    victims = [await register(gateway) for _ in range(4)]
    for number, victim in enumerate(victims):
        spoofed = {"X-Forwarded-For": f"192.0.2.{100 + number}", INTERNAL_TOKEN_HEADER: "guess"}
        await attempt(direct, victim.email, WRONG, spoofed)
    fresh = await register(gateway)
    response = await attempt(direct, fresh.email, fresh.password, {"X-Forwarded-For": "192.0.2.200"})
    # The fresh account has no failures of its own: only the real peer's counter (127.0.0.1, which the
    # whole suite shares) can block it, with a CAPTCHA demand or, past the lockout threshold, a 429.
    assert response.status_code in {428, 429}
