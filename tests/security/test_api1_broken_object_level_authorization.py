"""API1:2023 Broken object level authorization.

A customer reads and changes only their own carts, orders and payments: another's id answers 404,
exactly as an id that does not exist, so ids cannot be probed. Ids that appear in URLs carry 64
random bits, so one's own id says nothing about a neighbour's (a neighbour's payment id was once
found in 6 guesses, and anyone could settle it: an anonymous sandbox completion is now 401).
"""

from __future__ import annotations

import httpx
from bson import ObjectId

from devstack.stack import Stack
from shared.db import Database
from tests.builders import customer_headers
from tests.conftest import internal_headers
from tests.payment.sandbox import complete, ordered, pay, refund, stored


def random_part(object_id: str) -> str:
    """The 8 bytes after an ObjectId's timestamp: a process constant and a counter by default."""
    return object_id[8:]


async def test_ids_in_urls_cannot_be_guessed_from_ones_own(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    first, _, buyer = await ordered(gateway, admin)
    second, _, other_buyer = await ordered(gateway, admin)
    payments = [(await pay(gateway, buyer, first["id"])).json()["id"]]
    payments.append((await pay(gateway, other_buyer, second["id"])).json()["id"])
    for a, b in ((first["id"], second["id"]), tuple(payments)):
        # Default ObjectIds made by one process share 5 bytes and count up in the last 3.
        assert random_part(a)[:10] != random_part(b)[:10]
        assert abs(int(random_part(a), 16) - int(random_part(b), 16)) > 2**32


async def test_another_customers_order_and_payment_are_not_found(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order, _, owner = await ordered(gateway, admin)
    payment = (await pay(gateway, owner, order["id"])).json()
    stranger = await customer_headers(gateway)
    answers = [
        await gateway.get(f"/api/v1/orders/{order['id']}", headers=stranger),
        await gateway.post(f"/api/v1/orders/{order['id']}/cancel", headers=stranger),
        await gateway.get(f"/api/v1/payments/{payment['id']}", headers=stranger),
        await pay(gateway, stranger, order["id"]),
        await gateway.get(f"/api/v1/orders/{ObjectId()}", headers=stranger),
    ]
    assert [answer.status_code for answer in answers] == [404] * 5
    listed = (await gateway.get("/api/v1/orders", headers=stranger)).json()["items"]
    assert order["id"] not in [mine["id"] for mine in listed]
    assert (await gateway.get(f"/api/v1/orders/{order['id']}", headers=owner)).json()["status"] == (
        "pending_payment"
    )


async def test_nobody_but_the_owner_or_an_admin_settles_a_sandbox_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, owner = await ordered(gateway, admin)
    payment = (await pay(gateway, owner, order["id"])).json()
    anonymous = await complete(gateway, {}, payment["id"])
    stranger = await complete(gateway, await customer_headers(gateway), payment["id"], "failed")
    assert (anonymous.status_code, stranger.status_code) == (401, 404)
    assert (await stored(db, "payments", payment["id"]))["status"] == "pending"
    assert (await complete(gateway, owner, payment["id"])).status_code == 200
    assert (await stored(db, "orders", order["id"]))["status"] == "paid"


async def test_a_customer_cannot_refund_even_their_own_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, owner = await ordered(gateway, admin)
    payment = (await pay(gateway, owner, order["id"])).json()
    assert (await complete(gateway, owner, payment["id"])).status_code == 200
    response = await refund(gateway, owner, payment["id"], {"reason": "mine"})
    assert response.status_code == 403
    assert await db.refunds.count_documents({"payment_id": ObjectId(payment["id"])}) == 0


async def test_a_service_port_checks_ownership_as_the_gateway_route_does(
    stack: Stack, gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    """Holding the internal token does not make anyone an owner: the token says who calls."""
    order, _, _ = await ordered(gateway, admin)
    stranger = await customer_headers(gateway)
    async with httpx.AsyncClient(base_url=stack.url_of("order"), timeout=10) as direct:
        response = await direct.get(
            f"/api/v1/orders/{order['id']}", headers={**stranger, **internal_headers()}
        )
        anonymous = await direct.get(f"/api/v1/orders/{order['id']}", headers=internal_headers())
    assert (response.status_code, anonymous.status_code) == (404, 401)
