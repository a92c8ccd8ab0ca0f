"""An SPA's session through a gateway with the production rate limits: reloads and tabs never log a
shopper out, while the login limit still stops a password-guessing client at the same address.

The SPA pattern (README, "For the SPA"): log in with `refresh_token_delivery: "cookie"`, keep the
access token in memory, and on every page load `POST /refresh {}` with the cookie. Here a "browser"
is a cookie jar of one (the refresh cookie, `Secure` and `Path=/api/v1/auth`, kept by hand since the
test speaks plain HTTP) sending `Origin` as a cross-origin SPA does. All clients of a test share one
address through X-Forwarded-For (the gateway trusts 127.0.0.1 as a proxy), as shoppers behind one
office or carrier NAT do.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.stack import Stack
from gateway.settings import GatewaySettings
from tests.builders import register
from tests.integration.test_rate_limits import assert_rate_limited, start_gateway

SPA_ORIGIN = "http://127.0.0.1:5173"
RELOADS = 20
TABS = 3
REFRESH_PER_SESSION = 60  # the default RATE_LIMIT_REFRESH (per minute)
# Seconds a test's run of refreshes may take. The refresh class counts in a sliding window of two
# counters aligned to the minute, which lets a request or so more through for a run that straddles
# a boundary (once seen: the 61st refresh answered 200).
REFRESH_RUN_SECONDS = 15


@pytest.fixture(scope="module")
def production_limits_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A gateway with every rate limit at its default, counting in memory, behind a trusted proxy."""
    defaults = {
        name.upper(): str(field.default)
        for name, field in GatewaySettings.model_fields.items()
        if name.startswith("rate_limit_") and isinstance(field.default, str)
    }
    assert defaults["RATE_LIMIT_REFRESH"] == f"{REFRESH_PER_SESSION}/minute"
    settings = {**defaults, "REDIS_URL": "", "TRUSTED_PROXIES": "127.0.0.1", "CORS_ORIGINS": SPA_ORIGIN}
    limited = start_gateway(stack, tmp_path_factory.mktemp("production-limits"), settings)
    try:
        yield limited
    finally:
        limited.stop()


@pytest.fixture
async def api(production_limits_gateway: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=production_limits_gateway.gateway_url, timeout=30) as client:
        yield client


async def in_a_fresh_minute() -> None:
    """Wait for the next minute if the refresh limit's window ends before a run of refreshes would."""
    left = 60 - time.time() % 60
    if left < REFRESH_RUN_SECONDS:
        await asyncio.sleep(left + 0.5)


def shared_address() -> dict[str, str]:
    return {"X-Forwarded-For": f"10.77.{secrets.randbelow(256)}.{secrets.randbelow(256)}"}


class Browser:
    """One browser profile of the SPA: the refresh cookie it holds, the access token in memory."""

    def __init__(self, api: httpx.AsyncClient, address: dict[str, str]) -> None:
        self.api = api
        self.headers = {**address, "Origin": SPA_ORIGIN}
        self.cookie: str | None = None
        self.access_token: str | None = None

    def _keep(self, response: httpx.Response) -> None:
        set_cookie = response.headers.get("set-cookie", "")
        if set_cookie.startswith("refresh_token="):
            assert "httponly" in set_cookie.lower()
            self.cookie = set_cookie.partition(";")[0].partition("=")[2]
        if response.status_code == 200:
            body = response.json()
            assert "refresh_token" not in body, "a cookie-mode answer carries the refresh token"
            self.access_token = body["access_token"]
            # What the SPA's scripts may read of a credentialed cross-origin answer.
            assert response.headers["access-control-allow-origin"] == SPA_ORIGIN
            assert response.headers["access-control-allow-credentials"] == "true"

    async def log_in(self, email: str, password: str) -> httpx.Response:
        body = {"email": email, "password": password, "refresh_token_delivery": "cookie"}
        response = await self.api.post("/api/v1/auth/login", json=body, headers=self.headers)
        self._keep(response)
        return response

    async def load_page(self) -> httpx.Response:
        """What the SPA does on every page load: refresh with the cookie, then read the profile."""
        headers = {**self.headers, "Cookie": f"refresh_token={self.cookie}"}
        refreshed = await self.api.post("/api/v1/auth/refresh", json={}, headers=headers)
        self._keep(refreshed)
        if refreshed.status_code != 200:
            return refreshed
        return await self.api.get(
            "/api/v1/auth/me", headers={**self.headers, "Authorization": f"Bearer {self.access_token}"}
        )


async def test_reloads_and_tabs_keep_the_shopper_logged_in_while_guessing_is_stopped(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    address = shared_address()
    shopper = await register(gateway)
    browser = Browser(api, address)
    assert (await browser.log_in(shopper.email, shopper.password)).status_code == 200

    # 20 reloads within the minute: each one refreshes and reads the profile.
    for reload in range(RELOADS):
        page = await browser.load_page()
        assert page.status_code == 200, (reload, page.status_code, page.text)
        assert page.json()["email"] == shopper.email

    # Three tabs restored at once send the same cookie together: all are served (one successor).
    tabs = await asyncio.gather(*(browser.load_page() for _ in range(TABS)))
    assert [tab.status_code for tab in tabs] == [200] * TABS

    # Meanwhile a client at the same address guesses passwords: the login limit (10/minute, one of
    # them spent by the shopper's own login) stops it.
    guesses = [
        await api.post(
            "/api/v1/auth/login",
            json={"email": shopper.email, "password": f"guess number {attempt} of many"},
            headers=address,
        )
        for attempt in range(9)
    ]
    assert all(guess.status_code in (401, 428) for guess in guesses), [g.status_code for g in guesses]
    assert_rate_limited(
        await api.post(
            "/api/v1/auth/login",
            json={"email": shopper.email, "password": "one guess too many"},  # pragma: allowlist secret
            headers=address,
        )
    )

    # ...and none of that touched the shopper's session: the next reload still works, and so does
    # another shopper's at the same address, whose session has a budget of its own.
    assert (await browser.load_page()).status_code == 200
    neighbour = await register(gateway)
    other = Browser(api, address)
    other_login = await api.post(
        "/api/v1/auth/login",
        json={"email": neighbour.email, "password": neighbour.password, "refresh_token_delivery": "cookie"},
        # Logging in from elsewhere: this address's login budget is spent.
        headers={**shared_address(), "Origin": SPA_ORIGIN},
    )
    other._keep(other_login)
    assert (await other.load_page()).status_code == 200


async def test_one_session_refreshing_without_end_is_limited_alone(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    """A runaway refresh loop exhausts its own session's budget, not its neighbours'."""
    address = shared_address()
    looping, calm = await register(gateway), await register(gateway)
    runaway, neighbour = Browser(api, address), Browser(api, address)
    await runaway.log_in(looping.email, looping.password)
    await neighbour.log_in(calm.email, calm.password)
    await in_a_fresh_minute()
    answers = [await runaway.load_page() for _ in range(REFRESH_PER_SESSION)]
    assert {answer.status_code for answer in answers} == {200}
    refused = await runaway.load_page()
    assert_rate_limited(refused)
    assert refused.headers["ratelimit-policy"].startswith(f"{REFRESH_PER_SESSION};w=60")
    assert (await neighbour.load_page()).status_code == 200


async def test_body_mode_sessions_are_limited_per_session_too(
    api: httpx.AsyncClient, gateway: httpx.AsyncClient
) -> None:
    """A server refreshing for several users from one address: one session's budget is its own."""
    address = shared_address()
    first, second = await register(gateway), await register(gateway)

    async def session_of(email: str, password: str) -> str:
        body = {"email": email, "password": password}
        response = await api.post("/api/v1/auth/login", json=body, headers=shared_address())
        assert "set-cookie" not in response.headers
        token: str = response.json()["refresh_token"]
        return token

    token = await session_of(first.email, first.password)
    await in_a_fresh_minute()
    for _ in range(REFRESH_PER_SESSION):
        response = await api.post("/api/v1/auth/refresh", json={"refresh_token": token}, headers=address)
        assert response.status_code == 200, response.text
        token = response.json()["refresh_token"]
    assert_rate_limited(
        await api.post("/api/v1/auth/refresh", json={"refresh_token": token}, headers=address)
    )
    other = await session_of(second.email, second.password)
    answer = await api.post("/api/v1/auth/refresh", json={"refresh_token": other}, headers=address)
    assert answer.status_code == 200


async def test_invented_sessions_are_bounded_per_address(api: httpx.AsyncClient) -> None:
    """A new family per guess gets a fresh session bucket, never a fresh address bucket."""
    address = shared_address()
    refused = None
    for attempt in range(700):  # the default RATE_LIMIT_REFRESH_CLIENT is 600/minute
        guess = f"{secrets.token_hex(16)}.{secrets.token_urlsafe(32)}"
        response = await api.post("/api/v1/auth/refresh", json={"refresh_token": guess}, headers=address)
        if response.status_code == 429:
            refused = (attempt, response)
            break
        assert response.status_code == 401
    assert refused is not None
    attempt, response = refused
    assert attempt == 600
    assert response.headers["ratelimit-policy"].startswith("600;w=60")
