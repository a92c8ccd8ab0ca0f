"""Brute-force defences: CAPTCHA demands and growing delays per account and per client, and no
lockout, so strangers cannot keep anyone (the admin included) out.

The first tests use the session gateway, whose auth demands a CAPTCHA after 3 failures per account
(tests/conftest.py). The rest need many client addresses, so they run through a gateway and an auth
process of their own, on the session's database, keys and internal token: the gateway trusts
127.0.0.1 as a proxy (the tests speak as any client through X-Forwarded-For) and serves cheap ALTCHA
challenges that the tests solve; auth has low per-client thresholds, delays of a few milliseconds
(each one read back from auth's log, never timed), cheap Argon2 and a bootstrap admin of its own.
A third auth process runs with CAPTCHA off, called directly as the gateway would call it.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import SERVICES, Stack
from gateway.captcha.verdicts import CAPTCHA_RESPONSE_HEADER
from shared.db import Database
from shared.forwarding import CAPTCHA_VERIFIED_HEADER, INTERNAL_TOKEN_HEADER
from tests.builders import bearer, register, unique_email
from tests.conftest import stack_settings
from tests.integration.test_captcha import fetch_challenge, solve

WRONG = "definitely not the password"
# Built at run time: no password-looking literal is committed.
ADMIN_EMAIL = f"defences-admin-{uuid.uuid4().hex[:8]}@example.com"
ADMIN_PASSWORD = "stranger proof admin passphrase " + secrets.token_urlsafe(8)  # pragma: allowlist secret
ACCOUNT_CAPTCHA_AFTER = 3
CLIENT_CAPTCHA_AFTER = 4
DELAY_BASE = 0.01
DELAY_MAX = 0.05
# Cheap Argon2 (OWASP's floor, which the service enforces): a hundred failures take a second, not a minute.
CHEAP_ARGON2 = {"ARGON2_TIME_COST": "2", "ARGON2_MEMORY_COST_KIB": "19456", "ARGON2_PARALLELISM": "1"}
DEFENCES_AUTH = {
    **CHEAP_ARGON2,
    "CAPTCHA_PROVIDER": "altcha",
    "LOGIN_CAPTCHA_AFTER_FAILURES": str(ACCOUNT_CAPTCHA_AFTER),
    "LOGIN_IP_CAPTCHA_AFTER_FAILURES": str(CLIENT_CAPTCHA_AFTER),
    "LOGIN_DELAY_AFTER_FAILURES": str(ACCOUNT_CAPTCHA_AFTER),
    "LOGIN_IP_DELAY_AFTER_FAILURES": str(CLIENT_CAPTCHA_AFTER),
    "LOGIN_DELAY_BASE_SECONDS": str(DELAY_BASE),
    "LOGIN_DELAY_MAX_SECONDS": str(DELAY_MAX),
    "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
    "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    # The settings of the hard lockout this design replaced, set low: they must have no effect.
    "LOGIN_LOCKOUT_AFTER_FAILURES": "5",
    "LOGIN_IP_LOCKOUT_AFTER_FAILURES": "50",
}
DEFENCES_GATEWAY = {
    "CAPTCHA_PROVIDER": "altcha",
    "ALTCHA_COST": "100",
    "ALTCHA_MAX_NUMBER": "300",
    "TRUSTED_PROXIES": "127.0.0.1",
}


def fresh_ip() -> str:
    """A client address no other test uses (the counters live in the session's database)."""
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


async def attempt(
    client: httpx.AsyncClient, email: str, password: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login", json={"email": email, "password": password}, headers=headers or {}
    )


async def failures_of(db: Database, key: str) -> int:
    doc = await db.login_failures.find_one({"_id": key})
    return int(doc["count"]) if doc else 0


# --- the session stack ----------------------------------------------------------------------------


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


# --- a gateway and auth of their own ----------------------------------------------------------------


@dataclass(frozen=True)
class Defences:
    auth: Stack  # the auth process (called directly only to test what the gateway vouches for)
    gateway_url: str
    auth_log: Path


@pytest.fixture(scope="module")
def defences(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Defences]:
    root: Path = tmp_path_factory.mktemp("login-defences")
    own = Stack(stack_settings(root / "data"), env={}, log_dir=root / "logs")
    own.child_env = {**stack.child_env, "DATA_DIR": str(stack.settings.data_dir)}  # same keys
    upstreams = {f"{name.upper()}_SERVICE_URL": stack.url_of(name) for name in SERVICES}
    upstreams["AUTH_SERVICE_URL"] = own.url_of("auth")
    try:
        own.start_app("auth", env=DEFENCES_AUTH)
        own.start_app(
            "gateway", env={**upstreams, **DEFENCES_GATEWAY, "AUTH_SERVICE_URL": own.url_of("auth")}
        )
        yield Defences(own, own.gateway_url, root / "logs" / "auth.log")
    finally:
        own.stop()


@pytest.fixture
async def client(defences: Defences) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=defences.gateway_url, timeout=30) as client:
        yield client


async def as_client(client: httpx.AsyncClient, ip: str, *, captcha: bool = False) -> dict[str, str]:
    """Headers of a request from `ip`, with a freshly solved CAPTCHA when asked."""
    headers = {"X-Forwarded-For": ip, "X-Request-ID": uuid.uuid4().hex}
    if captcha:
        headers[CAPTCHA_RESPONSE_HEADER] = solve(await fetch_challenge(client))
    return headers


def logged_delays(log: Path) -> dict[str, float]:
    """Every failed login's delay as auth logged it, by request id."""
    delays: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        record: dict[str, Any] = json.loads(line) if line.startswith("{") else {}
        if record.get("event") == "login.failed":
            delays[record["request_id"]] = record["delayed_seconds"]
    return delays


async def test_strangers_failures_never_lock_the_admin_out(client: httpx.AsyncClient, db: Database) -> None:
    for number in range(10):  # ten strangers, each from an address of their own
        headers = await as_client(client, fresh_ip(), captcha=number >= ACCOUNT_CAPTCHA_AFTER)
        assert (await attempt(client, ADMIN_EMAIL, WRONG, headers)).status_code == 401
    assert await failures_of(db, f"account:{ADMIN_EMAIL}") == 10

    admin_ip = fresh_ip()
    unsolved = await attempt(client, ADMIN_EMAIL, ADMIN_PASSWORD, await as_client(client, admin_ip))
    assert unsolved.status_code == 428, unsolved.text  # a CAPTCHA, not a lockout
    assert unsolved.json()["type"] == "/problems/captcha-required"
    solved = await attempt(
        client, ADMIN_EMAIL, ADMIN_PASSWORD, await as_client(client, admin_ip, captcha=True)
    )
    assert solved.status_code == 200, solved.text
    me = await client.get("/api/v1/auth/me", headers=bearer(solved.json()))
    assert me.json()["role"] == "admin"
    # The success cleared the account's count: the next login needs no CAPTCHA.
    assert await failures_of(db, f"account:{ADMIN_EMAIL}") == 0
    again = await attempt(client, ADMIN_EMAIL, ADMIN_PASSWORD, await as_client(client, admin_ip))
    assert again.status_code == 200, again.text


async def test_a_hundred_failures_from_one_client_cost_its_neighbours_a_captcha_at_most(
    client: httpx.AsyncClient, db: Database, defences: Defences
) -> None:
    attacker = fresh_ip()
    statuses: list[int] = []
    for _ in range(CLIENT_CAPTCHA_AFTER):  # free guesses at a hundred unknown accounts, then solved ones
        headers = await as_client(client, attacker)
        statuses.append((await attempt(client, unique_email("random"), WRONG, headers)).status_code)
    last_failure = ""
    for _ in range(8):
        requests = []
        for _ in range(12):
            headers = await as_client(client, attacker, captcha=True)
            last_failure = headers["X-Request-ID"]
            requests.append(attempt(client, unique_email("random"), WRONG, headers))
        statuses += [response.status_code for response in await asyncio.gather(*requests)]
    assert statuses == [401] * 100
    assert await failures_of(db, f"ip:{attacker}") == 100
    # Every account was new; the client's own count is what delayed the failures.
    assert logged_delays(defences.auth_log)[last_failure] == pytest.approx(DELAY_MAX)

    neighbour = await register(client)
    unsolved = await attempt(client, neighbour.email, neighbour.password, await as_client(client, attacker))
    assert unsolved.status_code == 428, unsolved.text
    solved = await attempt(
        client, neighbour.email, neighbour.password, await as_client(client, attacker, captcha=True)
    )
    assert solved.status_code == 200, solved.text
    elsewhere = await attempt(
        client, neighbour.email, neighbour.password, await as_client(client, fresh_ip())
    )
    assert elsewhere.status_code == 200, elsewhere.text
    # Logging in does not reset the address's count: the attacker cannot wipe it with an account.
    assert await failures_of(db, f"ip:{attacker}") == 100


async def test_ipv6_clients_are_counted_by_their_64(client: httpx.AsyncClient) -> None:
    group, subnet = random.randrange(1, 0xFFFF), random.randrange(0, 0xFFFE, 2)
    prefix = f"2001:db8:{group:x}:{subnet:x}"
    for host in range(1, CLIENT_CAPTCHA_AFTER + 1):  # one failure from each of four hosts of one /64
        headers = await as_client(client, f"{prefix}::{host}")
        assert (await attempt(client, unique_email("v6"), WRONG, headers)).status_code == 401
    account = await register(client)
    same_64 = await attempt(
        client, account.email, account.password, await as_client(client, f"{prefix}:ffff::9")
    )
    assert same_64.status_code == 428, same_64.text
    next_64 = f"2001:db8:{group:x}:{subnet + 1:x}::1"
    other = await attempt(client, account.email, account.password, await as_client(client, next_64))
    assert other.status_code == 200, other.text


async def test_concurrent_guesses_cannot_slip_past_the_captcha_threshold(
    client: httpx.AsyncClient, db: Database
) -> None:
    account = await register(client)
    headers = [await as_client(client, fresh_ip()) for _ in range(10)]
    responses = await asyncio.gather(*(attempt(client, account.email, WRONG, h) for h in headers))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * ACCOUNT_CAPTCHA_AFTER + [428] * (10 - ACCOUNT_CAPTCHA_AFTER)
    assert await failures_of(db, f"account:{account.email}") == ACCOUNT_CAPTCHA_AFTER


async def test_wrong_passwords_wait_longer_and_longer_the_right_one_never(
    client: httpx.AsyncClient, defences: Defences
) -> None:
    account = await register(client)
    request_ids = []
    for number in range(7):
        headers = await as_client(client, fresh_ip(), captcha=number >= ACCOUNT_CAPTCHA_AFTER)
        request_ids.append(headers["X-Request-ID"])
        assert (await attempt(client, account.email, WRONG, headers)).status_code == 401
    delays = logged_delays(defences.auth_log)
    expected = [0, 0, 0, DELAY_BASE, 2 * DELAY_BASE, 4 * DELAY_BASE, DELAY_MAX]  # doubling, capped
    assert [delays[request_id] for request_id in request_ids] == pytest.approx(expected)

    right = await as_client(client, fresh_ip(), captcha=True)
    assert (await attempt(client, account.email, account.password, right)).status_code == 200
    assert right["X-Request-ID"] not in logged_delays(defences.auth_log)


async def test_forwarded_addresses_count_only_with_the_internal_token(
    client: httpx.AsyncClient, defences: Defences, db: Database
) -> None:
    """A caller reaching auth directly cannot pick a fresh address per attempt to dodge its counter."""
    spoofed = fresh_ip()
    account = await register(client)
    async with httpx.AsyncClient(base_url=defences.auth.url_of("auth"), timeout=30) as direct:
        forged = {"X-Forwarded-For": spoofed, INTERNAL_TOKEN_HEADER: "guess"}
        refused = await attempt(direct, account.email, WRONG, forged)
        genuine = {**forged, INTERNAL_TOKEN_HEADER: defences.auth.child_env["INTERNAL_TOKEN"]}
        counted = await attempt(direct, account.email, WRONG, genuine)
    assert refused.status_code in {401, 403}  # 403 where services refuse requests without the token
    assert counted.status_code == 401
    assert await failures_of(db, f"ip:{spoofed}") == 1  # the vouched-for attempt only


# --- CAPTCHA off ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def captcha_off_auth(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("captcha-off-auth")
    off = Stack(stack_settings(root / "data"), env={}, log_dir=root / "logs")
    off.child_env = {**stack.child_env, "DATA_DIR": str(stack.settings.data_dir)}
    settings = {
        **DEFENCES_AUTH,
        "CAPTCHA_PROVIDER": "off",
        "BOOTSTRAP_ADMIN_EMAIL": "",
        "BOOTSTRAP_ADMIN_PASSWORD": "",
    }
    try:
        off.start_app("auth", env=settings)
        yield off
    finally:
        off.stop()


async def test_with_captcha_off_only_delays_remain_and_the_right_password_works(
    captcha_off_auth: Stack,
) -> None:
    headers = {
        INTERNAL_TOKEN_HEADER: captcha_off_auth.child_env["INTERNAL_TOKEN"],
        "X-Forwarded-For": fresh_ip(),
    }
    async with httpx.AsyncClient(
        base_url=captcha_off_auth.url_of("auth"), timeout=30, headers=headers
    ) as direct:
        account = await register(direct)
        request_ids = [uuid.uuid4().hex for _ in range(10)]
        for request_id in request_ids:
            wrong = await attempt(direct, account.email, WRONG, {"X-Request-ID": request_id})
            assert wrong.status_code == 401, wrong.text
        right = await attempt(direct, account.email, account.password)
    assert right.status_code == 200, right.text  # no CAPTCHA to ask for, and no lockout
    assert captcha_off_auth.log_dir is not None
    delays = logged_delays(captcha_off_auth.log_dir / "auth.log")
    expected = [0, 0, 0, DELAY_BASE, 2 * DELAY_BASE, 4 * DELAY_BASE] + [DELAY_MAX] * 4
    assert [delays[request_id] for request_id in request_ids] == pytest.approx(expected)
