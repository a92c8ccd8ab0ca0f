"""GET /api/v1/audit through the gateway: admins only, filters, keyset pages, strict input, and no
way to change a record."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.audit.trail import AUDIT, records, user_id
from tests.builders import customer_headers, make_product


async def test_only_admins_read_the_trail(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    customer = await customer_headers(gateway)
    forbidden = await gateway.get(AUDIT, headers=customer)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    assert (await gateway.get(AUDIT)).status_code == 401
    assert (await gateway.get(AUDIT, headers=admin)).status_code == 200


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "POST"])
async def test_no_method_changes_a_record(
    gateway: httpx.AsyncClient, admin: dict[str, str], method: str
) -> None:
    record = (await gateway.get(AUDIT, params={"limit": 1}, headers=admin)).json()["items"][0]
    for path in (AUDIT, f"{AUDIT}/{record['id']}"):
        answer = await gateway.request(method, path, json={"outcome": "failed"}, headers=admin)
        assert answer.status_code in (404, 405), (method, path, answer.status_code)
    document = (await gateway.get("/openapi.json")).json()
    audit_paths = {path: set(item) for path, item in document["paths"].items() if path.startswith(AUDIT)}
    assert audit_paths == {AUDIT: {"get"}}
    assert (await gateway.get(AUDIT, params={"limit": 1}, headers=admin)).json()["items"][0] == record


async def test_filters_and_pages(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    product = await make_product(gateway, admin, price={"amount": 100, "currency": "BDT"})
    for amount in (101, 102, 103, 104, 105):
        patched = await gateway.patch(
            f"/api/v1/products/{product['id']}",
            json={"price": {"amount": amount, "currency": "BDT"}},
            headers=admin,
        )
        assert patched.status_code == 200, patched.text
    mine = {"action": "product.changed", "target_type": "product", "target_id": product["id"]}

    pages: list[list[dict[str, Any]]] = []
    params: dict[str, Any] = {"limit": 2, **mine}
    while True:
        body = (await gateway.get(AUDIT, params=params, headers=admin)).json()
        pages.append(body["items"])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert [len(page) for page in pages] == [2, 2, 1]
    walked = [record for page in pages for record in page]
    assert [r["after"] for r in walked] == [
        {"price": {"amount": a, "currency": "BDT"}} for a in (105, 104, 103, 102, 101)
    ]
    assert len({r["id"] for r in walked}) == 5

    third = walked[2]["at"]  # the change to 103: from it on (inclusive), and before it (exclusive)
    since = await records(gateway, admin, since=third, **mine)
    until = await records(gateway, admin, until=third, **mine)
    assert [r["after"]["price"]["amount"] for r in since] == [105, 104, 103]
    assert [r["after"]["price"]["amount"] for r in until] == [102, 101]
    assert datetime.fromisoformat(third).tzinfo is not None

    admin_id = await user_id(gateway, admin)
    assert len(await records(gateway, admin, actor=admin_id, **mine)) == 5
    assert await records(gateway, admin, actor="5f0000000000000000000000", **mine) == []
    assert await records(gateway, admin, outcome="failed", **mine) == []
    assert len(await records(gateway, admin, target_id=product["id"])) == 6  # and its creation


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"limit": 0}, "validation-error"),
        ({"limit": 101}, "validation-error"),
        ({"action": "product.stolen"}, "validation-error"),
        ({"outcome": "maybe"}, "validation-error"),
        ({"since": "2026-01-31T12:00:00"}, "validation-error"),  # no offset
        ({"until": "-0.99999"}, "validation-error"),  # not read as a Unix time
        ({"since": "0001-01-01T01:00:00+01:04"}, "validation-error"),
        ({"actor": {"$ne": None}.__repr__()}, "validation-error"),
        ({"target_type": "Product!"}, "validation-error"),
        ({"cursor": "not-a-cursor"}, "invalid-cursor"),
        ({"cursor": "eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMCIsImkiOiJ4In0"}, "invalid-cursor"),
    ],
)
async def test_bad_filters_are_problems(
    gateway: httpx.AsyncClient, admin: dict[str, str], params: dict[str, Any], problem: str
) -> None:
    answer = await gateway.get(AUDIT, params=params, headers=admin)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == f"/problems/{problem}"


async def test_logins_are_audited_against_the_account(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    email = f"audited-{uuid.uuid4().hex[:10]}@example.com"
    password = "an audited login passphrase"  # pragma: allowlist secret
    created = await gateway.post(
        "/api/v1/auth/register", json={"email": email, "password": password, "name": "A"}
    )
    assert created.status_code == 201
    for _ in range(3):  # the test stack asks for a CAPTCHA after 3 failures of one account
        guess = {"email": email, "password": "not it at all"}  # pragma: allowlist secret
        wrong = await gateway.post("/api/v1/auth/login", json=guess)
        assert wrong.status_code == 401
    throttled = await gateway.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert throttled.status_code == 428

    trail = await records(gateway, admin, target_type="account", target_id=email)
    assert [(r["action"], r["outcome"], r["actor"]["role"]) for r in trail] == [
        ("login.throttled", "refused", "anonymous"),
        *[("login.failed", "failed", "anonymous")] * 3,
    ]
    assert all(r["client_ip"] == "127.0.0.1" and r["details"]["known_account"] for r in trail[1:])

    unknown = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
    assert (
        await gateway.post("/api/v1/auth/login", json={"email": unknown, "password": "x"})
    ).status_code == 401
    (failed,) = await records(gateway, admin, target_id=unknown)
    assert failed["details"]["known_account"] is False

    admin_id = await user_id(gateway, admin)
    succeeded = (await records(gateway, admin, action="login.succeeded", actor=admin_id))[0]
    assert succeeded["actor"] == {"id": admin_id, "role": "admin"}
    assert succeeded["target"] == {"type": "account", "id": "admin@example.com"}


async def test_start_up_records_the_signing_key_and_the_bootstrap_admin(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    published = {
        key["kid"] for key in (await gateway.get("/api/v1/auth/.well-known/jwks.json")).json()["keys"]
    }
    rotations = await records(gateway, admin, action="signing_key.rotated")
    assert rotations
    assert rotations[0]["after"]["kid"] in published
    assert rotations[0]["actor"] == {"id": "system:startup", "role": "system"}
    (granted,) = await records(gateway, admin, action="role.granted", target_id=await user_id(gateway, admin))
    assert granted["after"] == {"email": "admin@example.com", "role": "admin"}
