"""`shop audit-data`: every invariant PASS on books that balance, each planted inconsistency a FAIL
naming the offending document, a baseline backup standing in for the starting stock the catalog does
not record, and orders read in the old single-status shape and the fulfilment/money shape alike."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from devstack.stack import Stack
from shared.db import Database
from shared.db import MongoClient as AsyncClient
from shop.audit.shapes import held_units, is_closed, is_paid
from tests.ops.cli import Ran, run_shop
from tests.ops.test_backup_cli import env_for, made_backup

NOW = datetime(2025, 6, 1, tzinfo=UTC)
PRICE = 100


def product(stock: int, start: int | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": ObjectId(), "sku": f"AUDIT-{ObjectId()}", "stock": stock}
    if start is not None:
        doc["initial_stock"] = start
    return doc


def order(
    lines: list[tuple[ObjectId, int, int]], status: str, payment_id: ObjectId | None = None
) -> dict[str, Any]:
    items = [
        {"product_id": pid, "quantity": qty, "restocked_quantity": back,
         "line_total": {"amount": PRICE * qty, "currency": "BDT"}}
        for pid, qty, back in lines
    ]  # fmt: skip
    total = {"amount": PRICE * sum(qty for _, qty, _ in lines), "currency": "BDT"}
    return {"_id": ObjectId(), "status": status, "items": items, "total": total, "payment_id": payment_id}


def payment(of: dict[str, Any], status: str, refunded: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "_id": ObjectId(), "order_id": of["_id"], "status": status, "amount": of["total"]["amount"],
        "currency": "BDT", "refunded_amount": refunded, "refund_pending_amount": 0, **extra,
    }  # fmt: skip


def refund(of: dict[str, Any], amount: int, status: str = "succeeded") -> dict[str, Any]:
    return {"_id": ObjectId(), "payment_id": of["_id"], "amount": amount, "status": status}


def placed(of: dict[str, Any]) -> dict[str, Any]:
    return {"_id": ObjectId(), "type": "OrderPlaced", "aggregate_id": of["_id"]}


async def balanced_books(db: Database, *, record_start: bool) -> ObjectId:
    """Stock 10 + adjustment 5; an unpaid order holds 2, a paid one 3 of which 1 came back by refund, a
    cancelled one gave its 4 back; a late payment for the cancelled order was refunded in full."""
    pending = order([(tea := ObjectId(), 2, 0)], "pending_payment")
    paid_order = order([(tea, 3, 1)], "partially_refunded")
    paid = payment(paid_order, "partially_refunded", refunded=PRICE)
    paid_order["payment_id"] = paid["_id"]
    cancelled = order([(tea, 4, 0)], "cancelled")
    late = payment(cancelled, "refunded", refunded=4 * PRICE, attention="order_not_payable")
    stock = 10 + 5 - 2 - (3 - 1)
    await db.products.insert_one({**product(stock, 10 if record_start else None), "_id": tea})
    await db.stock_adjustments.insert_one({"product_id": tea, "delta": 5, "at": NOW})
    await db.orders.insert_many([pending, paid_order, cancelled])
    await db.outbox.insert_many([placed(o) for o in (pending, paid_order, cancelled)])
    await db.payments.insert_many([paid, late])
    await db.refunds.insert_many([refund(paid, PRICE), refund(late, 4 * PRICE)])
    return tea


@pytest.fixture
async def books(mongo: AsyncClient) -> AsyncIterator[Database]:
    db = mongo[f"ops_audit_{ObjectId()}"]
    yield db
    await mongo.drop_database(db.name)


async def audit(stack: Stack, db: Database, cwd: Path, *args: str) -> Ran:
    return await run_shop("audit-data", "--json", *args, env=env_for(stack, db), cwd=cwd)


def verdicts(ran: Ran) -> dict[str, dict[str, Any]]:
    return {verdict["name"]: verdict for verdict in ran.json()["verdicts"]}


async def test_balanced_books_pass(stack: Stack, books: Database, tmp_path: Path) -> None:
    await balanced_books(books, record_start=True)
    ran = await audit(stack, books, tmp_path)
    assert ran.code == 0, ran.stdout
    assert {name: v["status"] for name, v in verdicts(ran).items()} == dict.fromkeys(
        ["stock-balance", "order-lines", "orders-whole", "paid-orders-have-payments",
         "captured-payments-have-orders", "refunds-within-capture"], "PASS",
    )  # fmt: skip
    assert verdicts(ran)["stock-balance"]["checked"] == 1


async def test_every_planted_inconsistency_is_named(stack: Stack, books: Database, tmp_path: Path) -> None:
    await balanced_books(books, record_start=True)
    loose = ObjectId()  # a product with no known start: its orders test everything but the balance
    await books.products.insert_one({**product(50, None), "_id": loose})
    vanished = product(4, 5)  # one unit gone without an order or an adjustment
    unpaid_for = order([(loose, 1, 0)], "paid", payment_id=ObjectId())  # its payment does not exist
    stray = order([(loose, 1, 0)], "pending_payment")
    stray_capture = payment(stray, "succeeded")  # captured, order not paid, no refund due
    over = order([(loose, 3, 0)], "refunded")
    over_refunded = payment(over, "refunded", refunded=4 * PRICE)  # more back than captured
    over["payment_id"] = over_refunded["_id"]
    silent = order([(loose, 1, 0)], "pending_payment")  # no OrderPlaced event
    overstocked = order([(loose, 2, 3)], "pending_payment")  # 3 units back of 2 ordered
    await books.products.insert_one(vanished)
    await books.orders.insert_many([unpaid_for, stray, over, silent, overstocked])
    await books.outbox.insert_many([placed(o) for o in (unpaid_for, stray, over, overstocked)])
    await books.payments.insert_many([stray_capture, over_refunded])
    await books.refunds.insert_one(refund(over_refunded, 4 * PRICE))

    ran = await audit(stack, books, tmp_path)
    assert ran.code == 1
    offending = {name: {f["id"] for f in v["findings"]} for name, v in verdicts(ran).items()}
    assert offending == {
        "stock-balance": {str(vanished["_id"])},
        "order-lines": {str(overstocked["_id"])},
        "orders-whole": {str(silent["_id"])},
        "paid-orders-have-payments": {str(unpaid_for["_id"])},
        "captured-payments-have-orders": {str(stray_capture["_id"])},
        "refunds-within-capture": {str(over_refunded["_id"])},
    }
    text = await run_shop("audit-data", env=env_for(stack, books), cwd=tmp_path)
    assert "FAIL  stock-balance" in text.stdout
    assert f"products {vanished['_id']}: stock 4 + held 0 = 4, expected start 5" in text.stdout
    assert text.stdout.splitlines()[-1] == "6 invariants FAIL"


async def test_a_baseline_backup_stands_in_for_the_starting_stock(
    stack: Stack, books: Database, tmp_path: Path
) -> None:
    tea = await balanced_books(books, record_start=False)
    without = await audit(stack, books, tmp_path)
    stock = verdicts(without)["stock-balance"]
    assert (without.code, stock["status"]) == (0, "SKIP")
    assert "--baseline" in stock["note"]
    baseline = await made_backup(stack, books, tmp_path / "backups")
    assert (
        verdicts(await audit(stack, books, tmp_path, "--baseline", str(baseline)))["stock-balance"]["status"]
        == "PASS"
    )

    await books.products.update_one({"_id": tea}, {"$inc": {"stock": 1}})  # a unit from nowhere
    found = await audit(stack, books, tmp_path, "--baseline", str(baseline))
    assert found.code == 1
    assert [f["id"] for f in verdicts(found)["stock-balance"]["findings"]] == [str(tea)]
    await books.stock_adjustments.insert_one({"product_id": tea, "delta": 1, "at": NOW})  # ... now explained
    assert (await audit(stack, books, tmp_path, "--baseline", str(baseline))).code == 0


def test_orders_are_read_in_either_shape() -> None:
    """Orders with one `status`, and orders with separate fulfilment and money statuses."""
    tea = ObjectId()
    line = [{"product_id": tea, "quantity": 3, "restocked_quantity": 1}]
    legacy_cancelled = {"status": "cancelled", "items": line}
    split_cancelled = {
        "status": "cancelled",
        "fulfilment_status": "cancelled",
        "money_status": "unpaid",
        "items": line,
    }
    split_only = {"fulfilment_status": "expired", "money_status": "unpaid", "items": line}
    shipped_refunded = {
        "status": "refunded",
        "fulfilment_status": "shipped",
        "money_status": "refunded",
        "items": line,
    }
    placed_unpaid = {
        "status": "pending_payment",
        "fulfilment_status": "placed",
        "money_status": "unpaid",
        "items": line,
    }
    for closed in (legacy_cancelled, split_cancelled, split_only):
        assert is_closed(closed)
        assert held_units(closed)[tea] == 0
    assert (is_closed(shipped_refunded), is_paid(shipped_refunded), held_units(shipped_refunded)[tea]) == (
        False,
        True,
        2,
    )
    assert (is_closed(placed_unpaid), is_paid(placed_unpaid), held_units(placed_unpaid)[tea]) == (
        False,
        False,
        2,
    )


async def test_a_database_that_is_not_there_is_named(stack: Stack, books: Database, tmp_path: Path) -> None:
    """A mistyped --db must not pass every invariant on nothing."""
    ran = await audit(stack, books, tmp_path)
    assert ran.code == 3
    assert f"database {books.name!r} on 127.0.0.1:" in ran.error_line
    assert "holds no collections" in ran.error_line
