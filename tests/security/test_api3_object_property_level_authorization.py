"""API3:2023 Broken object property level authorization.

No client can set a property it does not own (mass assignment: a role at registration, a price or a
total on an order, a status on a payment), and no answer carries a property the caller may not see
(password hashes, refresh-token hashes, provider secrets, other customers' data). Unknown fields are
refused (422), never silently stored; text that reaches a page or a log holds no control characters.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from bson import ObjectId

from shared.db import Database
from tests.builders import customer_headers, make_product, register, unique_email
from tests.payment.sandbox import ordered, pay

PASSWORD = "a long and unusual test passphrase"  # pragma: allowlist secret


def assert_no_secrets(body: object) -> None:
    text = str(body).lower()
    for word in ("password_hash", "argon2", "refresh_token_hash", "sk_test", "whsec_"):
        assert word not in text, word


async def test_registration_cannot_choose_a_role(gateway: httpx.AsyncClient, db: Database) -> None:
    email = unique_email()
    response = await gateway.post(
        "/api/v1/auth/register",
        json={
            "email": email,
            "password": "a long and unusual test passphrase",  # pragma: allowlist secret
            "name": "Eve",
            "role": "admin",
        },
    )
    assert response.status_code == 422
    assert await db.users.count_documents({"email": email}) == 0


async def test_profiles_and_logins_carry_no_secret(gateway: httpx.AsyncClient) -> None:
    account = await register(gateway)
    login = await gateway.post(
        "/api/v1/auth/login", json={"email": account.email, "password": account.password}
    )
    me = await gateway.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert_no_secrets(me.json())
    assert set(me.json()) <= {"id", "email", "name", "role", "created_at"}


@pytest.mark.parametrize(
    "extra",
    [
        {"total": {"amount": 1, "currency": "BDT"}},
        {"status": "paid"},
        {"user_id": str(ObjectId())},
    ],
)
async def test_an_order_takes_no_price_total_status_or_owner_from_the_client(
    gateway: httpx.AsyncClient, admin: dict[str, str], extra: dict[str, object]
) -> None:
    product = await make_product(gateway, admin, stock=5, price={"amount": 9900, "currency": "BDT"})
    headers = {**(await customer_headers(gateway)), "Idempotency-Key": uuid.uuid4().hex}
    body = {"items": [{"product_id": product["id"], "quantity": 1}], **extra}
    assert (await gateway.post("/api/v1/orders", json=body, headers=headers)).status_code == 422
    priced = {
        "items": [
            {"product_id": product["id"], "quantity": 1, "unit_price": {"amount": 1, "currency": "BDT"}}
        ]
    }
    assert (await gateway.post("/api/v1/orders", json=priced, headers=headers)).status_code == 422


async def test_a_payment_takes_no_amount_or_status_from_the_client(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    for extra in ({"amount": {"amount": 1, "currency": "BDT"}}, {"status": "succeeded"}):
        response = await gateway.post(
            "/api/v1/payments",
            json={"order_id": order["id"], "provider": "sandbox", **extra},
            headers={**buyer, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 422
    payment = (await pay(gateway, buyer, order["id"])).json()
    assert payment["amount"] == order["total"]
    assert_no_secrets(payment)


async def test_operator_keys_never_reach_a_query(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    headers = {**(await customer_headers(gateway)), "Idempotency-Key": uuid.uuid4().hex}
    for product_id in ({"$gt": ""}, {"$ne": None}, ["a"], "a" * 24):
        body = {"items": [{"product_id": product_id, "quantity": 1}]}
        assert (await gateway.post("/api/v1/orders", json=body, headers=headers)).status_code == 422
    listing = await gateway.get("/api/v1/products", params={"category": '{"$ne": null}', "q": ".*"})
    assert listing.status_code in (200, 422)


@pytest.mark.parametrize("name", ["Eve\x00", "Eve\x1b[31m", "Eve\nAdmin", "Eve\u0085", "Eve\x7f"])
async def test_control_characters_are_refused_in_names(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database, name: str
) -> None:
    email = unique_email()
    registration = await gateway.post(
        "/api/v1/auth/register",
        json={"email": email, "password": PASSWORD, "name": name},
    )
    product = await gateway.post(
        "/api/v1/products",
        json={"sku": f"SKU-{uuid.uuid4().hex[:8]}", "name": name, "price": {"amount": 1, "currency": "BDT"}},
        headers=admin,
    )
    category = await gateway.post(
        "/api/v1/categories", json={"slug": f"c-{uuid.uuid4().hex[:8]}", "name": name}, headers=admin
    )
    assert (registration.status_code, product.status_code, category.status_code) == (422, 422, 422)
    assert await db.users.count_documents({"email": email}) == 0
