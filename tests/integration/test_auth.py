"""Accounts, sessions and tokens through the gateway."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from shared.db import Database
from tests.builders import DEFAULT_PASSWORD, Account, bearer, login, register, unique_email
from tests.conftest import ACCESS_TOKEN_TTL_SECONDS, ADMIN_EMAIL, ADMIN_PASSWORD, AUTH_TEST_SETTINGS

PROBLEM = "application/problem+json"
GRACE_SECONDS = float(AUTH_TEST_SETTINGS["REFRESH_REUSE_GRACE_SECONDS"])


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


@pytest.mark.parametrize(
    "name", ["Ada\x00Lovelace", "Ada\nLovelace", "Ada\tLovelace", "Ada\x7f", "Ada\x85Lovelace", "x" * 101]
)
async def test_names_with_control_characters_or_over_the_bound_are_refused(
    gateway: httpx.AsyncClient, db: Database, name: str
) -> None:
    email = unique_email()
    response = await gateway.post(
        "/api/v1/auth/register", json={"email": email, "password": DEFAULT_PASSWORD, "name": name}
    )
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert [error["loc"] for error in body["errors"]] == [["body", "name"]]
    assert await db.users.find_one({"email": email}) is None


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
    ["password123456", "qwertyuiopasdfgh", "aaaaaaaaaaaaaaaa", "my name is {local} ok"],
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


async def test_a_password_outside_the_documented_bounds_is_invalid_input(gateway: httpx.AsyncClient) -> None:
    for password in ("short pw", "plum tiger 7 " * 20):  # 8 and 260 characters: below 12, above 256
        response = await gateway.post(
            "/api/v1/auth/register",
            json={"email": unique_email("bounds"), "password": password, "name": "Bounds"},
        )
        assert response.status_code == 422
        assert response.json()["type"] == "/problems/validation-error"
        assert response.json()["errors"][0]["loc"] == ["body", "password"]


async def test_login_returns_the_refresh_token_in_the_body_and_no_cookie(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    response = await gateway.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == ACCESS_TOKEN_TTL_SECONDS
    family, _, secret = body["refresh_token"].partition(".")
    assert len(family) == 32
    assert len(secret) >= 43
    assert "set-cookie" not in response.headers
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
        "/api/v1/auth/login",
        json={"email": account.email, "password": "not the right passphrase"},  # pragma: allowlist secret
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


async def refresh(gateway: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await gateway.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})


async def family_of(db: Database, account: Account) -> dict[str, Any]:
    """The token family of the account's one login."""
    families = await db.token_families.find({"user_id": ObjectId(account.id)}).to_list()
    assert len(families) == 1
    return families[0]


async def tokens_in(db: Database, family: dict[str, Any]) -> int:
    return await db.refresh_tokens.count_documents({"family_id": family["_id"]})


async def move_spends(db: Database, family: dict[str, Any], when: datetime) -> None:
    """Date every spent token of the family `when`: into the past to leave the grace interval
    without waiting, or now to start it afresh whatever the test took so far."""
    await db.refresh_tokens.update_many(
        {"family_id": family["_id"], "spent_at": {"$ne": None}}, {"$set": {"spent_at": when}}
    )


@dataclass(frozen=True)
class Rotated:
    first: str  # the login's refresh token, spent once
    second: dict[str, Any]  # the answer that spent it
    family: dict[str, Any]


async def login_and_rotate(gateway: httpx.AsyncClient, db: Database) -> Rotated:
    """A new account's session whose first refresh token has been exchanged once."""
    account = await register(gateway)
    first = (await login(gateway, account.email, account.password))["refresh_token"]
    rotated = await refresh(gateway, first)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] != first
    assert (await gateway.get("/api/v1/auth/me", headers=bearer(rotated.json()))).status_code == 200
    return Rotated(first, rotated.json(), await family_of(db, account))


async def test_a_spent_token_in_the_grace_interval_gets_its_one_successor_again(
    gateway: httpx.AsyncClient, db: Database
) -> None:
    session = await login_and_rotate(gateway, db)
    first, successor, family = session.first, session.second["refresh_token"], session.family
    await move_spends(db, family, datetime.now(UTC))

    replays = await asyncio.gather(*(refresh(gateway, first) for _ in range(5)))
    assert [replay.status_code for replay in replays] == [200] * 5
    assert {replay.json()["refresh_token"] for replay in replays} == {successor}
    assert len({replay.json()["access_token"] for replay in replays}) == 5  # fresh access tokens
    for replay in replays:
        assert (await gateway.get("/api/v1/auth/me", headers=bearer(replay.json()))).status_code == 200
    assert await tokens_in(db, family) == 2  # the login's token and its one successor: nothing minted

    onwards = await refresh(gateway, successor)
    assert onwards.status_code == 200
    # Its successor spent too, the first token is refused, and the session goes on.
    late = await refresh(gateway, first)
    assert late.status_code == 401
    assert late.json()["type"] == "/problems/refresh-token-superseded"
    assert (await db.token_families.find_one({"_id": family["_id"]}) or {})["revoked_at"] is None
    assert (await refresh(gateway, onwards.json()["refresh_token"])).status_code == 200


async def test_a_spent_token_after_the_grace_interval_kills_its_family(
    gateway: httpx.AsyncClient, db: Database
) -> None:
    session = await login_and_rotate(gateway, db)
    family = session.family
    await move_spends(db, family, datetime.now(UTC) - timedelta(seconds=GRACE_SECONDS + 1))

    replay = await refresh(gateway, session.first)
    assert replay.status_code == 401
    assert replay.json()["type"] == "/problems/refresh-token-reused"
    revoked = await db.token_families.find_one({"_id": family["_id"]})
    assert revoked is not None
    assert revoked["revoked_reason"] == "refresh_token_reused"
    # The legitimate successor dies with its family, and nothing new was issued.
    assert (await refresh(gateway, session.second["refresh_token"])).status_code == 401
    assert await tokens_in(db, family) == 2


async def test_concurrent_refreshes_of_one_token_share_one_successor(
    gateway: httpx.AsyncClient, db: Database
) -> None:
    account = await register(gateway)
    first = (await login(gateway, account.email, account.password))["refresh_token"]
    responses = await asyncio.gather(*(refresh(gateway, first) for _ in range(8)))
    assert [response.status_code for response in responses] == [200] * 8
    successors = {response.json()["refresh_token"] for response in responses}
    assert len(successors) == 1
    assert await tokens_in(db, await family_of(db, account)) == 2
    (successor,) = successors
    assert successor != first
    assert (await refresh(gateway, successor)).status_code == 200


def refresh_cookie(response: httpx.Response) -> str:
    """The refresh cookie an answer sets, after checking its attributes."""
    cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api/v1/auth"):
        assert attribute.lower() in cookie.lower()
    name, _, rest = cookie.partition("=")
    assert name == "refresh_token"
    return rest.partition(";")[0]


async def test_cookie_mode_keeps_the_refresh_token_out_of_every_body(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    response = await gateway.post(
        "/api/v1/auth/login",
        json={"email": account.email, "password": account.password, "refresh_token_delivery": "cookie"},
    )
    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "token_type", "expires_in", "refresh_expires_in"}
    first = refresh_cookie(response)
    assert first not in response.text

    rotated = await gateway.post(
        "/api/v1/auth/refresh", json={}, headers={"Cookie": f"refresh_token={first}"}
    )
    assert rotated.status_code == 200
    assert "refresh_token" not in rotated.json()
    second = refresh_cookie(rotated)
    assert second != first
    assert second not in rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    me = await gateway.get("/api/v1/auth/me", headers=bearer(rotated.json()))
    assert me.json()["email"] == account.email
    # The successor cookie works in turn; the spent one, within the grace window, gets the same one.
    again = await gateway.post("/api/v1/auth/refresh", json={}, headers={"Cookie": f"refresh_token={first}"})
    assert refresh_cookie(again) == second


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
