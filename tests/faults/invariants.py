"""The shop's invariants after a fault, checked through the API and in the database.

- every order a client was told about (201, or the replay of its key) exists as ordered, and its
  owner sees it through the API; no order exists that no client was told about;
- for every product: stock + units held by orders that did not give them back = starting stock,
  and the API shows the stored stock;
- no payment has more refunded (or being refunded) than it captured, its refunds add up to what it
  records, and no order was captured twice;
- every payment the shopper completed left its order paid (or refunded from paid).
"""

from __future__ import annotations

from collections import Counter

from bson import ObjectId

from shared.db import Database, Document
from tests.faults.workload import Call, Ledger, Shop, result_id

# Orders in these states gave their units back when they closed (RESTOCKED_ON_ENTRY in the order service).
RETURNED_STATES = frozenset({"cancelled", "expired"})
CAPTURED_STATES = frozenset({"succeeded", "partially_refunded", "refunded"})
PAID_STATES = frozenset({"paid", "partially_refunded", "refunded"})


async def check_invariants(db: Database, shop: Shop, products: dict[str, int], ledger: Ledger) -> None:
    product_ids = [ObjectId(product_id) for product_id in products]
    orders = {
        str(order["_id"]): order
        for order in await db.orders.find({"items.product_id": {"$in": product_ids}}).to_list()
    }
    check_orders_as_acknowledged(orders, ledger)
    stock = await check_stock(db, products, orders)
    await check_payments(db, orders, ledger)
    await check_through_the_api(shop, stock, orders, ledger)


def check_orders_as_acknowledged(orders: dict[str, Document], ledger: Ledger) -> None:
    told = {}
    for call in ledger.checkouts:
        order_id = result_id(call)
        stored = orders.get(order_id)
        assert stored is not None, f"acknowledged order {order_id} is not in the database"
        assert call.body is not None
        ordered = sorted((line["product_id"], line["quantity"]) for line in call.body["items"])
        assert sorted((str(line["product_id"]), line["quantity"]) for line in stored["items"]) == ordered
        told[order_id] = call
    phantoms = sorted(set(orders) - set(told))
    assert phantoms == [], f"orders no client was told about: {phantoms}"


def units_held(order: Document, product_id: str) -> int:
    if order["status"] in RETURNED_STATES:
        return 0
    return sum(
        line["quantity"] - line.get("restocked_quantity", 0)
        for line in order["items"]
        if str(line["product_id"]) == product_id
    )


async def check_stock(db: Database, products: dict[str, int], orders: dict[str, Document]) -> dict[str, int]:
    """Checks the stock equation; returns each product's stored stock."""
    stock = {}
    for product_id, initial in products.items():
        stored = await db.products.find_one({"_id": ObjectId(product_id)})
        assert stored is not None
        held = sum(units_held(order, product_id) for order in orders.values())
        assert stored["stock"] >= 0
        assert (product_id, stored["stock"] + held) == (product_id, initial), (
            f"stock {stored['stock']} + held {held} != starting stock {initial}"
        )
        stock[product_id] = stored["stock"]
    return stock


async def check_payments(db: Database, orders: dict[str, Document], ledger: Ledger) -> None:
    order_ids = [order["_id"] for order in orders.values()]
    payments = await db.payments.find({"order_id": {"$in": order_ids}}).to_list()
    captured_per_order: Counter[str] = Counter()
    for stored in payments:
        refunds = await db.refunds.find({"payment_id": stored["_id"]}).to_list()
        refunded = sum(r["amount"] for r in refunds if r["status"] == "succeeded")
        pending = sum(r["amount"] for r in refunds if r["status"] == "pending")
        assert (refunded, pending) == (stored["refunded_amount"], stored["refund_pending_amount"]), stored
        assert refunded + pending <= stored["amount"], f"payment {stored['_id']} refunds exceed its capture"
        if refunded:
            assert stored["status"] in CAPTURED_STATES
        if stored["status"] in CAPTURED_STATES:
            captured_per_order[str(stored["order_id"])] += 1
    twice = [order_id for order_id, count in captured_per_order.items() if count > 1]
    assert twice == [], f"orders captured more than once: {twice}"
    paid_by_completion = {
        str(payment_doc["order_id"])
        for payment_doc in payments
        if any(call.path.endswith(f"/{payment_doc['_id']}/complete") for call in ledger.completions)
    }
    for order_id in paid_by_completion:
        assert orders[order_id]["status"] in PAID_STATES, (order_id, orders[order_id]["status"])


async def check_through_the_api(
    shop: Shop, stock: dict[str, int], orders: dict[str, Document], ledger: Ledger
) -> None:
    async with shop.client() as http:
        for call in ledger.checkouts:
            order_id = result_id(call)
            seen = await http.get(f"/api/v1/orders/{order_id}", headers=owner_of(call))
            assert seen.status_code == 200, seen.text
            assert seen.json()["status"] == orders[order_id]["status"]
        for product_id, stored in stock.items():
            seen = await http.get(f"/api/v1/products/{product_id}", headers=shop.admin)
            assert seen.status_code == 200, seen.text
            assert seen.json()["stock"] == stored


def owner_of(call: Call) -> dict[str, str]:
    return {"Authorization": call.headers["Authorization"]}
