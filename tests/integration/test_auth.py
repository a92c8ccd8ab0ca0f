"""Accounts, sessions and tokens through the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.builders import DEFAULT_PASSWORD, bearer, login, register, unique_email
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

PROBLEM = "application/problem+json"


def without_request_specifics(problem: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in problem.items() if key not in {"request_id", "instance"}}


async def test_register_creates_a_customer_and_returns_no_secret(gateway: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await gateway.post(
        "/api/v1/auth/register", json={"email": email, "password": DEFAULT_PASSWORD, "name": "  Ada  "}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "name", "role", "created_at"}
    assert (body["email"], body["name"], body["role"]) == (email, "Ada", "customer")
    assert "argon2" not in response.text


async def test_clients_cannot_choose_their_role(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post(
        "/api/v1/auth/register",
        json={"email": unique_email(), "password": DEFAULT_PASSWORD, "name": "Eve", "role": "admin"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "role"]


async def test_email_is_unique_whatever_its_case(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    response = await gateway.post(
        "/api/v1/auth/register",
        json={"email": account.email.upper(), "password": DEFAULT_PASSWORD, "name": "Two"},
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/email-taken"


@pytest.mark.parametrize(
    "password",
    ["short pw", "password123456", "qwertyuiopasdfgh", "aaaaaaaaaaaaaaaa", "my name is {local} ok"],
)
async def test_weak_passwords_are_refused_with_reasons(gateway: httpx.AsyncClient, password: str) -> None:
    email = unique_email("robin")
    response = await gateway.post(
        "/api/v1/auth/register",
        json={"email": email, "password": password.format(local=email.split("@")[0]), "name": "Robin"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/weak-password"
    assert body["errors"][0]["loc"] == ["body", "password"]
    assert password.split()[0] not in body["detail"]


@pytest.mark.parametrize("email", ["not-an-email", "a@b", {"$gt": ""}, ""])
async def test_invalid_emails_are_refused(gateway: httpx.AsyncClient, email: object) -> None:
    response = await gateway.post(
        "/api/v1/auth/register", json={"email": email, "password": DEFAULT_PASSWORD, "name": "X"}
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"


async def test_login_returns_tokens_and_a_strict_refresh_cookie(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    response = await gateway.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"refresh_token={body['refresh_token']};")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api/v1/auth"):
        assert attribute.lower() in cookie.lower()
    assert response.headers["cache-control"] == "no-store"

    me = await gateway.get("/api/v1/auth/me", headers=bearer(body))
    assert me.status_code == 200
    assert me.json()["email"] == account.email
    assert me.json()["role"] == "customer"


async def test_me_without_a_token_is_401(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"] == "/problems/unauthorized"


async def test_unknown_email_and_wrong_password_get_the_same_answer(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    wrong_password = await gateway.post(
        "/api/v1/auth/login", json={"email": account.email, "password": "not the right passphrase"}
    )
    unknown_email = await gateway.post(
        "/api/v1/auth/login", json={"email": unique_email(), "password": "not the right passphrase"}
    )
    assert wrong_password.status_code == unknown_email.status_code == 401
    assert without_request_specifics(wrong_password.json()) == without_request_specifics(unknown_email.json())
    assert wrong_password.json()["type"] == "/problems/invalid-credentials"


async def test_bootstrap_admin_can_log_in_as_admin(gateway: httpx.AsyncClient) -> None:
    tokens = await login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = await gateway.get("/api/v1/auth/me", headers=bearer(tokens))
    assert me.json()["role"] == "admin"


async def test_refresh_rotates_and_a_spent_token_kills_its_family(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    first = await login(gateway, account.email, account.password)
    second = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]
    assert (await gateway.get("/api/v1/auth/me", headers=bearer(second.json()))).status_code == 200

    await asyncio.sleep(2.2)  # past REFRESH_REUSE_GRACE_SECONDS=2 of the test stack
    replay = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["type"] == "/problems/refresh-token-reused"
    # The legitimate successor dies with its family.
    successor = await gateway.post(
        "/api/v1/auth/refresh", json={"refresh_token": second.json()["refresh_token"]}
    )
    assert successor.status_code == 401


async def test_concurrent_refresh_within_the_grace_interval_keeps_the_session(
    gateway: httpx.AsyncClient,
) -> None:
    account = await register(gateway)
    tokens = await login(gateway, account.email, account.password)
    both = await asyncio.gather(
        *(
            gateway.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            for _ in range(2)
        )
    )
    assert [response.status_code for response in both] == [200, 200]
    for response in both:
        again = await gateway.post(
            "/api/v1/auth/refresh", json={"refresh_token": response.json()["refresh_token"]}
        )
        assert again.status_code == 200


async def test_refresh_with_the_cookie_and_an_empty_json_body(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    tokens = await login(gateway, account.email, account.password)
    cookie = {"Cookie": f"refresh_token={tokens['refresh_token']}"}
    response = await gateway.post("/api/v1/auth/refresh", json={}, headers=cookie)
    assert response.status_code == 200
    assert response.json()["refresh_token"] != tokens["refresh_token"]


async def test_refresh_refuses_a_form_post(gateway: httpx.AsyncClient) -> None:
    """A cross-site form can post without a preflight; it must not be able to use the cookie."""
    account = await register(gateway)
    tokens = await login(gateway, account.email, account.password)
    response = await gateway.post(
        "/api/v1/auth/refresh",
        data={"x": "1"},
        headers={"Cookie": f"refresh_token={tokens['refresh_token']}"},
    )
    assert response.status_code == 422


async def test_garbage_refresh_token_is_401(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/invalid-refresh-token"


async def test_logout_revokes_the_family_and_clears_the_cookie(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    tokens = await login(gateway, account.email, account.password)
    rotated = (
        await gateway.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).json()
    response = await gateway.post("/api/v1/auth/logout", json={"refresh_token": rotated["refresh_token"]})
    assert response.status_code == 204
    assert 'refresh_token=""' in response.headers["set-cookie"]
    after = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401


async def test_logout_without_a_token_is_still_204(gateway: httpx.AsyncClient) -> None:
    response = await gateway.post("/api/v1/auth/logout", json={})
    assert response.status_code == 204


async def test_jwks_publishes_public_keys_only(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/auth/.well-known/jwks.json")
    assert response.status_code == 200
    keys = response.json()["keys"]
    assert keys
    for key in keys:
        assert {key["kty"], key["crv"], key["alg"], key["use"]} == {"OKP", "Ed25519", "EdDSA", "sig"}
        assert "d" not in key
    assert "max-age" in response.headers["cache-control"]
