"""API2:2023 Broken authentication.

Tokens are verified strictly (tests/integration/test_forged_tokens.py forges every claim and
header), at the gateway and at every service; a verifier that cannot fetch the keys says "retry"
(503), never "logged out" (401); strangers' failed logins cannot lock an owner out; a spent refresh
token never mints a session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from bson import ObjectId

from devstack.stack import Stack, free_port
from shared.db import Database
from tests.builders import customer_headers, login, register
from tests.conftest import internal_headers, stack_settings
from tests.integration.test_captcha import solved


@pytest.fixture(scope="module")
def keyless_order_service(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """An order service whose key set lives at an address where nothing answers."""
    root = tmp_path_factory.mktemp("keyless")
    keyless = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    keyless.child_env = {**stack.child_env, "DATA_DIR": str(root / "data")}
    dead = f"http://127.0.0.1:{free_port()}/api/v1/auth/.well-known/jwks.json"
    try:
        keyless.start_app(
            "order", wait=False, env={"AUTH_JWKS_URL": dead, "HEALTH_CHECK_TIMEOUT_SECONDS": "1"}
        )
        yield keyless
    finally:
        keyless.stop()


async def test_without_keys_a_service_is_not_ready_and_says_retry(
    keyless_order_service: Stack, gateway: httpx.AsyncClient
) -> None:
    headers = await customer_headers(gateway)
    async with httpx.AsyncClient(base_url=keyless_order_service.url_of("order"), timeout=30) as direct:
        for _ in range(100):  # until the process answers at all
            try:
                ready = await direct.get("/health/ready")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)  # start-up, not a race: the port opens when it opens
        assert ready.status_code == 503
        assert ready.json()["checks"]["jwks"] != "ok"
        answer = await direct.get("/api/v1/orders", headers={**headers, **internal_headers()})
    assert answer.status_code == 503, answer.text
    assert answer.json()["type"] == "/problems/keys-unavailable"
    assert int(answer.headers["retry-after"]) >= 1


async def test_service_ports_verify_tokens_themselves(stack: Stack) -> None:
    """The internal token is not a login: without a valid access token, a service answers 401."""
    async with httpx.AsyncClient(base_url=stack.url_of("order"), timeout=10) as direct:
        for authorization in ({}, {"Authorization": "Bearer not.a.token"}):
            response = await direct.get("/api/v1/orders", headers={**authorization, **internal_headers()})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"


async def test_strangers_failures_cost_the_owner_a_captcha_never_a_lockout(
    gateway: httpx.AsyncClient,
) -> None:
    """Ten wrong passwords for someone else's email once locked the owner (the admin) out for 15
    minutes. Now the owner's right password needs a CAPTCHA solution, and then works."""
    owner = await register(gateway)
    for _ in range(10):
        guess = {"email": owner.email, "password": "guess" * 4}  # pragma: allowlist secret
        wrong = await gateway.post("/api/v1/auth/login", json=guess)
        assert wrong.status_code in (401, 428)
    credentials = {"email": owner.email, "password": owner.password}
    without = await gateway.post("/api/v1/auth/login", json=credentials)
    assert without.status_code == 428
    with_solution = await gateway.post("/api/v1/auth/login", json=credentials, headers=await solved(gateway))
    assert with_solution.status_code == 200, with_solution.text


async def test_a_spent_refresh_token_never_mints_a_session(gateway: httpx.AsyncClient, db: Database) -> None:
    """Presenting one spent token 5 times within the grace window once gave 5 new, valid sessions."""
    account = await register(gateway)
    first = (await login(gateway, account.email, account.password))["refresh_token"]
    successor = (await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first})).json()
    replays = await asyncio.gather(
        *(gateway.post("/api/v1/auth/refresh", json={"refresh_token": first}) for _ in range(5))
    )
    minted = {replay.json()["refresh_token"] for replay in replays if replay.status_code == 200}
    assert minted <= {successor["refresh_token"]}
    user = ObjectId(account.id)
    families = await db.token_families.find({"user_id": user}).to_list()
    assert len(families) == 1
    assert await db.refresh_tokens.count_documents({"family_id": families[0]["_id"]}) == 2
