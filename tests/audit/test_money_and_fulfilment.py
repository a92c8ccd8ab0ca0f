"""Refunds, stock adjustments and fulfilment steps are audited in their own transactions, through the
gateway: a record names the admin, the client address, the request, and what changed."""

from __future__ import annotations

import uuid

import httpx

from shared.db import Database
from tests.audit.trail import only, records, user_id
from tests.builders import customer_headers, make_product, place_order
from tests.payment.sandbox import complete, pay, refund


async def paid_order(gateway: httpx.AsyncClient, admin: dict[str, str]) -> tuple[dict[str, str], str, str]:
    """A customer's order of 2 units at 1500, paid with the sandbox: (buyer, order id, payment id)."""
    product = await make_product(gateway, admin, stock=10, price={"amount": 1500, "currency": "BDT"})
    buyer = await customer_headers(gateway)
    order = (await place_order(gateway, buyer, [(product["id"], 2)])).json()
    payment = (await pay(gateway, buyer, order["id"])).json()
    assert (await complete(gateway, buyer, payment["id"])).json()["status"] == "succeeded"
    return buyer, order["id"], payment["id"]


async def test_an_admin_refund_is_audited_with_before_and_after(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    _, order_id, payment_id = await paid_order(gateway, admin)
    request_id = f"audit-refund-{uuid.uuid4().hex}"
    asked = await refund(
        gateway, {**admin, "X-Request-ID": request_id}, payment_id, {"amount": 1000, "reason": "dented"}
    )
    assert asked.status_code == 201, asked.text

    record = await only(gateway, admin, action="refund.requested", target_id=payment_id)
    assert record["actor"] == {"id": await user_id(gateway, admin), "role": "admin"}
    assert record["target"] == {"type": "payment", "id": payment_id}
    assert (record["outcome"], record["request_id"], record["client_ip"]) == (
        "succeeded",
        request_id,
        "127.0.0.1",
    )
    assert record["before"] == {"status": "succeeded", "refunded_amount": 0, "refund_pending_amount": 0}
    assert record["after"] == {"status": "succeeded", "refunded_amount": 0, "refund_pending_amount": 1000}
    details = record["details"]
    assert (details["refund_id"], details["order_id"]) == (asked.json()["id"], order_id)
    assert (details["amount"], details["currency"], details["reason"]) == (1000, "BDT", "dented")

    settled = await only(gateway, admin, action="refund.settled", target_id=payment_id)
    assert settled["actor"] == {"id": "system:settlement", "role": "system"}
    assert settled["outcome"] == "succeeded"
    assert settled["after"] == {"status": "partially_refunded", "refunded_amount": 1000}

    # A refund that holds nothing (more than is left) commits nothing, and so is not in the trail.
    too_much = await refund(gateway, admin, payment_id, {"amount": 2001, "reason": "x"})
    assert too_much.status_code == 422
    assert len(await records(gateway, admin, action="refund.requested", target_id=payment_id)) == 1
    assert await db.audit.count_documents({"target.id": payment_id, "action": "refund.requested"}) == 1


async def test_stock_adjustments_are_audited_exactly_when_they_commit(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    product = await make_product(gateway, admin, stock=3)
    url = f"/api/v1/products/{product['id']}/stock-adjustments"
    added = await gateway.post(url, json={"delta": 5, "reason": "delivery"}, headers=admin)
    assert added.status_code == 200, added.text
    refused = await gateway.post(url, json={"delta": -9, "reason": "miscount"}, headers=admin)
    assert refused.status_code == 409

    record = await only(gateway, admin, action="stock.adjusted", target_id=product["id"])
    assert (record["before"], record["after"]) == ({"stock": 3}, {"stock": 8})
    assert record["details"]["reason"] == "delivery"
    assert record["details"]["adjustment_id"] == added.json()["adjustment"]["id"]


async def test_product_changes_show_what_changed(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    product = await make_product(gateway, admin, price={"amount": 1000, "currency": "BDT"})
    patched = await gateway.patch(
        f"/api/v1/products/{product['id']}",
        json={"price": {"amount": 1250, "currency": "BDT"}},
        headers=admin,
    )
    assert patched.status_code == 200, patched.text
    assert (await gateway.delete(f"/api/v1/products/{product['id']}", headers=admin)).status_code == 204

    trail = await records(gateway, admin, target_type="product", target_id=product["id"])
    assert [record["action"] for record in trail] == [
        "product.deactivated",
        "product.changed",
        "product.created",
    ]
    deactivated, changed, created = trail
    assert changed["before"] == {"price": {"amount": 1000, "currency": "BDT"}}
    assert changed["after"] == {"price": {"amount": 1250, "currency": "BDT"}}
    assert (deactivated["before"], deactivated["after"]) == ({"active": True}, {"active": False})
    assert created["before"] is None
    assert created["after"]["sku"] == product["sku"]


async def test_fulfilment_steps_and_admin_cancels_are_audited(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, order_id, _ = await paid_order(gateway, admin)
    for step in ("shipped", "delivered"):
        moved = await gateway.post(f"/api/v1/orders/{order_id}/status", json={"status": step}, headers=admin)
        assert moved.status_code == 200, moved.text
    again = await gateway.post(f"/api/v1/orders/{order_id}/status", json={"status": "shipped"}, headers=admin)
    assert again.status_code == 409  # refused: nothing committed, nothing audited
    trail = await records(gateway, admin, target_type="order", target_id=order_id)
    assert [
        (r["action"], r["before"]["fulfilment_status"], r["after"]["fulfilment_status"]) for r in trail
    ] == [
        ("order.delivered", "shipped", "delivered"),
        ("order.shipped", "paid", "shipped"),
    ]

    product = await make_product(gateway, admin, stock=5)
    buyer = await customer_headers(gateway)
    by_admin = (await place_order(gateway, buyer, [(product["id"], 1)])).json()["id"]
    by_owner = (await place_order(gateway, buyer, [(product["id"], 1)])).json()["id"]
    assert (await gateway.post(f"/api/v1/orders/{by_admin}/cancel", headers=admin)).status_code == 200
    assert (await gateway.post(f"/api/v1/orders/{by_owner}/cancel", headers=buyer)).status_code == 200
    cancelled = await only(gateway, admin, action="order.cancelled", target_id=by_admin)
    assert cancelled["after"]["fulfilment_status"] == "cancelled"
    assert await records(gateway, admin, target_id=by_owner) == []  # a shopper's own cancel is no privilege
