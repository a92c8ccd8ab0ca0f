"""CAPTCHA at the gateway, against the real services: ALTCHA challenges solved here as the widget
solves them, hosted providers through a fake siteverify, single use, and refusals that stop the
operation before any service sees it.

Extra gateways, in front of the session stack's services (same internal token), run with:
ALTCHA under a key the tests know (so they can also forge and expire challenges) and
`CAPTCHA_ROUTES` on category listing and registration; Turnstile against the fake siteverify; and
CAPTCHA off. The stack's auth demands a CAPTCHA after 3 failed logins (tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from altcha import Challenge, Payload, create_challenge, solve_challenge

from devstack.stack import Stack
from shared.db import Database
from tests.builders import DEFAULT_PASSWORD, Account, register, unique_email
from tests.harness import extra_gateway
from tests.payment.conftest import fake_server

PROBLEM = "application/problem+json"
WRONG = "definitely not the password"
HEADER = "X-Captcha-Response"
ALTCHA_COST = 100
ALTCHA_MAX_NUMBER = 300
# Built at run time: no secret-looking literal is ever committed.
ALTCHA_KEY = "altcha-it-" + secrets.token_urlsafe(24)
SITEVERIFY_SECRET = "turnstile-it-" + secrets.token_urlsafe(24)  # pragma: allowlist secret
HOSTNAME = "shop.example"


@pytest.fixture(scope="module")
def altcha_gateway_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "CAPTCHA_PROVIDER": "altcha",
        "CAPTCHA_SECRET": ALTCHA_KEY,
        "CAPTCHA_ROUTES": "GET /api/v1/categories, POST /api/v1/auth/register",
        "ALTCHA_COST": str(ALTCHA_COST),
        "ALTCHA_MAX_NUMBER": str(ALTCHA_MAX_NUMBER),
    }
    with extra_gateway(stack, tmp_path_factory.mktemp("altcha-gateway"), env) as extra:
        yield extra.gateway_url


@pytest.fixture(scope="module")
def siteverify_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir = tmp_path_factory.mktemp("siteverify")
    with fake_server("tests.fakes.siteverify_server", "--secret", SITEVERIFY_SECRET, log_dir=log_dir) as url:
        yield url


@pytest.fixture(scope="module")
def turnstile_gateway_url(
    stack: Stack, siteverify_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    env = {
        "CAPTCHA_PROVIDER": "turnstile",
        "CAPTCHA_SECRET": SITEVERIFY_SECRET,
        "CAPTCHA_SITEVERIFY_URL": f"{siteverify_url}/turnstile/v0/siteverify",
        "CAPTCHA_HOSTNAMES": HOSTNAME,
        "CAPTCHA_ROUTES": "GET /api/v1/categories",
        "CAPTCHA_VERIFY_TIMEOUT_SECONDS": "1",
    }
    with extra_gateway(stack, tmp_path_factory.mktemp("turnstile-gateway"), env) as extra:
        yield extra.gateway_url


@pytest.fixture(scope="module")
def off_gateway_url(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"CAPTCHA_PROVIDER": "off", "CAPTCHA_ROUTES": "GET /api/v1/categories"}
    with extra_gateway(stack, tmp_path_factory.mktemp("off-gateway"), env) as extra:
        yield extra.gateway_url


@pytest.fixture
async def altcha(altcha_gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=altcha_gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
async def turnstile(turnstile_gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=turnstile_gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
async def fake(siteverify_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=siteverify_url, timeout=30) as client:
        yield client


def assert_captcha_refused(response: httpx.Response, reason: str | None) -> dict[str, Any]:
    """A 428 captcha-required problem; `reason` is set when the gateway refused, absent when auth did."""
    assert response.status_code == 428, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == "/problems/captcha-required"
    assert body["request_id"] == response.headers["x-request-id"]
    assert body.get("reason") == reason
    return body


async def fetch_challenge(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/captcha")
    assert response.status_code == 200, response.text
    challenge: dict[str, Any] = response.json()
    return challenge


def solve(challenge: dict[str, Any]) -> str:
    """What the ALTCHA widget does: try counters until the derived key has the prefix, then send the
    challenge and the solution as base64 JSON."""
    parsed = Challenge.from_dict(challenge)
    solution = solve_challenge(parsed, timeout=30)
    assert solution is not None, "no solution found"
    return Payload(parsed, solution).to_base64()


async def solved(client: httpx.AsyncClient) -> dict[str, str]:
    return {HEADER: solve(await fetch_challenge(client))}


async def attempt(
    client: httpx.AsyncClient, account: Account, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": account.email, "password": password}, headers=headers or {}
    )


async def fail_three_times(client: httpx.AsyncClient, account: Account) -> None:
    for _ in range(3):  # LOGIN_CAPTCHA_AFTER_FAILURES of the test stack
        assert (await attempt(client, account, WRONG)).status_code == 401


# --- ALTCHA --------------------------------------------------------------------------------------------


async def test_the_challenge_is_fresh_signed_and_never_cached(altcha: httpx.AsyncClient) -> None:
    first = await altcha.get("/api/v1/captcha")
    second = await fetch_challenge(altcha)
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == "no-store"
    assert first.headers["x-content-type-options"] == "nosniff"
    challenge = first.json()
    assert challenge["parameters"]["cost"] == ALTCHA_COST
    assert challenge["parameters"]["expiresAt"] > time.time()
    assert len(challenge["signature"]) == 64
    assert second["parameters"]["nonce"] != challenge["parameters"]["nonce"]


async def test_the_session_gateway_serves_challenges_too(gateway: httpx.AsyncClient) -> None:
    # tests/conftest.py sets CAPTCHA_PROVIDER=altcha for every process; its key is generated.
    challenge = await fetch_challenge(gateway)
    assert challenge["parameters"]["algorithm"] == "PBKDF2/SHA-256"


async def test_login_after_failures_takes_a_solution_once(
    gateway: httpx.AsyncClient, altcha: httpx.AsyncClient
) -> None:
    account = await register(gateway)
    await fail_three_times(altcha, account)
    assert_captcha_refused(await attempt(altcha, account, account.password), reason=None)  # auth asks

    solution = await solved(altcha)
    accepted = await attempt(altcha, account, account.password, solution)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["access_token"]

    # The count was reset by the success, so auth would let this in: only the gateway refuses it.
    replayed = await attempt(altcha, account, account.password, solution)
    assert_captcha_refused(replayed, reason="reused")


def forged() -> str:
    """Solved honestly, but signed with a key that is not the gateway's."""
    challenge = create_challenge(
        "PBKDF2/SHA-256",
        ALTCHA_COST,
        counter=5,
        expires_at=int(time.time()) + 600,
        hmac_secret="not-the-gateway-" + secrets.token_hex(16),  # pragma: allowlist secret
    )
    return solve(challenge.to_dict())


def expired() -> str:
    """Signed with the gateway's key and solved, but past its expiry."""
    challenge = create_challenge(
        "PBKDF2/SHA-256", ALTCHA_COST, counter=5, expires_at=int(time.time()) - 5, hmac_secret=ALTCHA_KEY
    )
    return solve(challenge.to_dict())


def edited(payload: str, part: str, **changes: Any) -> str:
    data = json.loads(base64.b64decode(payload))
    target = data["challenge"]["parameters"] if part == "parameters" else data["solution"]
    target.update(changes)
    return base64.b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("forged", "invalid"),
        ("expired", "expired"),
        ("cheaper", "invalid"),
        ("unsolved", "invalid"),
        ("garbage", "invalid"),
    ],
)
async def test_bad_solutions_are_refused_and_never_forwarded(
    gateway: httpx.AsyncClient, altcha: httpx.AsyncClient, kind: str, reason: str
) -> None:
    account = await register(gateway)  # no failures: auth itself would let every attempt in
    genuine = solve(await fetch_challenge(altcha))
    payloads: dict[str, Callable[[], str]] = {
        "forged": forged,
        "expired": expired,
        "cheaper": lambda: edited(genuine, "parameters", cost=1),
        "unsolved": lambda: edited(genuine, "solution", derivedKey="00" * 32),
        "garbage": lambda: "bm90IGEgcGF5bG9hZA==",
    }
    response = await attempt(altcha, account, account.password, {HEADER: payloads[kind]()})
    assert_captcha_refused(response, reason=reason)
    assert (await attempt(altcha, account, account.password)).status_code == 200


async def test_a_required_route_is_refused_without_a_solution(
    gateway: httpx.AsyncClient, altcha: httpx.AsyncClient
) -> None:
    assert (await gateway.get("/api/v1/categories")).status_code == 200  # not required there
    assert_captcha_refused(await altcha.get("/api/v1/categories"), reason="missing")
    assert_captcha_refused(await altcha.get("/api/v1/categories", headers={HEADER: ""}), reason="missing")
    listed = await altcha.get("/api/v1/categories", headers=await solved(altcha))
    assert listed.status_code == 200, listed.text
    assert (await altcha.get("/api/v1/products")).status_code == 200  # not in CAPTCHA_ROUTES


async def test_a_refused_registration_creates_nothing(altcha: httpx.AsyncClient, db: Database) -> None:
    email = unique_email("captcha")
    body = {"email": email, "password": DEFAULT_PASSWORD, "name": "Captcha Test"}
    assert_captcha_refused(await altcha.post("/api/v1/auth/register", json=body), reason="missing")
    bad = {HEADER: edited(solve(await fetch_challenge(altcha)), "parameters", cost=1)}
    refused = await altcha.post("/api/v1/auth/register", json=body, headers=bad)
    assert_captcha_refused(refused, reason="invalid")
    assert await db["users"].find_one({"email": email}) is None

    created = await altcha.post("/api/v1/auth/register", json=body, headers=await solved(altcha))
    assert created.status_code == 201, created.text
    assert await db["users"].find_one({"email": email}) is not None


async def test_one_solution_sent_twice_at_once_passes_once(altcha: httpx.AsyncClient) -> None:
    solution = await solved(altcha)
    responses = await asyncio.gather(*(altcha.get("/api/v1/categories", headers=solution) for _ in range(2)))
    assert sorted(response.status_code for response in responses) == [200, 428]


async def test_a_client_cannot_vouch_for_itself(
    gateway: httpx.AsyncClient, altcha: httpx.AsyncClient
) -> None:
    account = await register(gateway)
    await fail_three_times(altcha, account)
    claimed = {"X-Captcha-Verified": "true", HEADER: "bm90IGEgcGF5bG9hZA=="}
    assert_captcha_refused(await attempt(altcha, account, account.password, claimed), reason="invalid")
    only_claimed = {"X-Captcha-Verified": "true"}
    assert_captcha_refused(await attempt(altcha, account, account.password, only_claimed), reason=None)


# --- a hosted provider (Turnstile) through the fake siteverify --------------------------------------------


async def mint(fake: httpx.AsyncClient, **options: Any) -> dict[str, str]:
    response = await fake.post("/__control/tokens", json={"hostname": HOSTNAME, **options})
    assert response.status_code == 200, response.text
    return {HEADER: response.json()["token"]}


async def siteverify_calls(fake: httpx.AsyncClient) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = (await fake.get("/__control/requests")).json()
    return calls


async def test_no_challenge_is_served_for_a_hosted_provider(turnstile: httpx.AsyncClient) -> None:
    response = await turnstile.get("/api/v1/captcha")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/not-found"


async def test_a_token_is_verified_at_siteverify_and_accepted_once(
    turnstile: httpx.AsyncClient, fake: httpx.AsyncClient
) -> None:
    token = await mint(fake)
    assert_captcha_refused(await turnstile.get("/api/v1/categories"), reason="missing")
    assert (await turnstile.get("/api/v1/categories", headers=token)).status_code == 200
    call = (await siteverify_calls(fake))[-1]
    assert call == {
        "path": "/turnstile/v0/siteverify",
        "response": token[HEADER],
        "remoteip": "127.0.0.1",
        "secret_ok": True,
    }
    assert_captcha_refused(await turnstile.get("/api/v1/categories", headers=token), reason="reused")


async def test_the_gateway_refuses_a_replay_even_when_the_provider_would_not(
    turnstile: httpx.AsyncClient, fake: httpx.AsyncClient
) -> None:
    token = await mint(fake, reusable=True)  # passes at siteverify every time
    assert (await turnstile.get("/api/v1/categories", headers=token)).status_code == 200
    assert_captcha_refused(await turnstile.get("/api/v1/categories", headers=token), reason="reused")


async def test_unknown_and_foreign_tokens_are_refused(
    turnstile: httpx.AsyncClient, fake: httpx.AsyncClient
) -> None:
    unknown = {HEADER: "fake.never-issued"}
    assert_captcha_refused(await turnstile.get("/api/v1/categories", headers=unknown), reason="invalid")
    foreign = await mint(fake, hostname="elsewhere.example")
    assert_captcha_refused(await turnstile.get("/api/v1/categories", headers=foreign), reason="invalid")


async def test_login_after_failures_with_a_hosted_token(
    gateway: httpx.AsyncClient, turnstile: httpx.AsyncClient, fake: httpx.AsyncClient
) -> None:
    account = await register(gateway)
    await fail_three_times(turnstile, account)
    assert_captcha_refused(await attempt(turnstile, account, account.password), reason=None)
    token = await mint(fake)
    assert (await attempt(turnstile, account, account.password, token)).status_code == 200
    assert_captcha_refused(await attempt(turnstile, account, account.password, token), reason="reused")


@pytest.mark.parametrize("mode", ["error", "hang"])
async def test_a_failing_provider_means_503_never_a_pass(
    turnstile: httpx.AsyncClient, fake: httpx.AsyncClient, mode: str
) -> None:
    token = await mint(fake)
    await fake.post("/__control/faults", json={"mode": mode, "count": 1, "seconds": 2})
    response = await turnstile.get("/api/v1/categories", headers=token)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/captcha-unavailable"
    assert response.headers["retry-after"] == "5"


# --- CAPTCHA off -------------------------------------------------------------------------------------------


async def test_with_captcha_off_nothing_is_served_or_required(off_gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=off_gateway_url, timeout=30) as off:
        challenge = await off.get("/api/v1/captcha")
        assert challenge.status_code == 404
        assert challenge.headers["content-type"] == PROBLEM
        assert (await off.get("/api/v1/categories")).status_code == 200  # CAPTCHA_ROUTES ignored
        ignored = await off.get("/api/v1/categories", headers={HEADER: "anything"})
        assert ignored.status_code == 200
