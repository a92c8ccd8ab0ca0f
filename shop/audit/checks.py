"""The invariants, as pure functions over the shop's documents (loaded by shop/audit/load.py)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bson import ObjectId

from shared.db import Document
from shop.audit.shapes import (
    CAPTURED_PAYMENT_STATES,
    amount_of,
    doc_id,
    held_by_product,
    is_closed,
    is_paid,
    lines,
    number,
)

Status = Literal["PASS", "FAIL", "SKIP"]
MAX_FINDINGS = 50


@dataclass(frozen=True)
class Finding:
    collection: str
    id: str
    problem: str


@dataclass
class Verdict:
    name: str
    statement: str
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)
    found: int = 0  # findings in all (only MAX_FINDINGS are kept)
    note: str | None = None
    skipped: bool = False

    @property
    def status(self) -> Status:
        return "FAIL" if self.found else "SKIP" if self.skipped else "PASS"

    def offend(self, collection: str, doc: object, problem: str) -> None:
        self.found += 1
        if len(self.findings) < MAX_FINDINGS:
            self.findings.append(Finding(collection, str(doc), problem))


@dataclass
class ShopData:
    """What the checker reads, all from one point in time."""

    products: list[Document]
    orders: list[Document]
    adjustments: dict[Any, int]  # product id -> sum of stock adjustment deltas
    payments: list[Document]
    refunds: list[Document]
    placed_events: set[Any]  # order ids with an OrderPlaced outbox event
    # Only some products (and their orders) were read: units of other products are not missing products.
    scoped: bool = False


def starting_balance(data: ShopData) -> dict[ObjectId, int]:
    """Each product's implied starting stock: stock + held - adjustments (a baseline for later audits)."""
    held = held_by_product(data.orders)
    return {
        product["_id"]: number(product.get("stock"))
        + held[product["_id"]]
        - data.adjustments.get(product["_id"], 0)
        for product in data.products
    }


def check_stock(data: ShopData, starting: Mapping[ObjectId, int] | None) -> Verdict:
    verdict = Verdict(
        "stock-balance",
        "for every product: stock + units held by open orders (ordered - restocked) "
        "= starting stock + adjustments",
    )
    held = held_by_product(data.orders)
    known = {product["_id"] for product in data.products}
    unknown_start = 0
    for product in data.products:
        pid = product["_id"]
        stock = product.get("stock")
        if not isinstance(stock, int) or stock < 0:
            verdict.offend("products", pid, f"stock is {stock!r}")
            continue
        start = starting.get(pid) if starting is not None else None
        if start is None and isinstance(product.get("initial_stock"), int):
            start = product["initial_stock"]
        if start is None:
            unknown_start += 1
            continue
        verdict.checked += 1
        adjusted = start + data.adjustments.get(pid, 0)
        if stock + held[pid] != adjusted:
            verdict.offend(
                "products",
                pid,
                f"stock {stock} + held {held[pid]} = {stock + held[pid]}, expected start {start} "
                f"+ adjustments {data.adjustments.get(pid, 0)} = {adjusted}",
            )
    for pid in sorted((p for p in held if p not in known and not data.scoped), key=str):
        verdict.offend("orders", pid, "orders hold units of a product that does not exist")
    if unknown_start:
        verdict.note = (
            f"{unknown_start} products have no known starting stock (the catalog does not record it): "
            "pass --baseline with an earlier backup to check them"
        )
        verdict.skipped = verdict.checked == 0
    return verdict


def check_lines(data: ShopData) -> Verdict:
    verdict = Verdict(
        "order-lines", "every order line: 0 <= restocked + restock pending <= quantity, quantity > 0"
    )
    for order in data.orders:
        verdict.checked += 1
        for line in lines(order):
            quantity = number(line.get("quantity"))
            restocked, pending = number(line.get("restocked_quantity")), number(line.get("restock_pending"))
            if quantity <= 0 or restocked < 0 or pending < 0 or restocked + pending > quantity:
                verdict.offend(
                    "orders",
                    doc_id(order),
                    f"line {line.get('product_id')}: quantity {quantity}, restocked {restocked}, "
                    f"pending {pending}",
                )
    return verdict


def check_orders_whole(data: ShopData) -> Verdict:
    verdict = Verdict(
        "orders-whole", "every order has lines, a total equal to their sum, and its OrderPlaced event"
    )
    for order in data.orders:
        verdict.checked += 1
        total, currency = amount_of(order.get("total"))
        line_sum = sum(amount_of(line.get("line_total"))[0] for line in lines(order))
        if not lines(order) or total != line_sum:
            verdict.offend("orders", doc_id(order), f"total {total} {currency}, lines add up to {line_sum}")
        if order.get("_id") not in data.placed_events:
            verdict.offend("orders", doc_id(order), "no OrderPlaced event in the outbox")
    return verdict


def check_paid_orders(data: ShopData) -> Verdict:
    verdict = Verdict(
        "paid-orders-have-payments", "every paid order has its succeeded payment, for its total"
    )
    payments = {payment["_id"]: payment for payment in data.payments}
    captured_for: dict[object, list[Document]] = defaultdict(list)
    for captured in data.payments:
        if captured.get("status") in CAPTURED_PAYMENT_STATES:
            captured_for[captured.get("order_id")].append(captured)
    for order in data.orders:
        if not is_paid(order):
            continue
        verdict.checked += 1
        payment_id = order.get("payment_id")
        payment = payments.get(payment_id) if payment_id is not None else None
        if payment is None and payment_id is None and captured_for[order["_id"]]:
            # An order shape without payment_id: its captured payment, if any, is the one.
            payment = captured_for[order["_id"]][0]
        total, currency = amount_of(order.get("total"))
        if payment is None:
            verdict.offend("orders", doc_id(order), f"paid, but no payment {order.get('payment_id')} exists")
        elif payment.get("status") not in CAPTURED_PAYMENT_STATES or payment.get("order_id") != order["_id"]:
            verdict.offend(
                "orders", doc_id(order), f"paid by payment {doc_id(payment)} ({payment.get('status')})"
            )
        elif (number(payment.get("amount")), payment.get("currency")) != (total, currency):
            verdict.offend(
                "orders",
                doc_id(order),
                f"total {total} {currency}, payment {doc_id(payment)} captured "
                f"{payment.get('amount')} {payment.get('currency')}",
            )
    return verdict


def check_captured_payments(data: ShopData) -> Verdict:
    verdict = Verdict(
        "captured-payments-have-orders",
        "every succeeded payment paid its order, or (order closed or paid already) is refunded "
        "or due a refund",
    )
    orders = {order["_id"]: order for order in data.orders}
    captures: Counter[object] = Counter()
    for payment in data.payments:
        if payment.get("status") not in CAPTURED_PAYMENT_STATES:
            continue
        verdict.checked += 1
        order = orders.get(payment.get("order_id"))
        if order is None:
            verdict.offend("payments", doc_id(payment), f"its order {payment.get('order_id')} does not exist")
            continue
        if order.get("payment_id") == payment["_id"] and is_paid(order):
            captures[order["_id"]] += 1
            continue
        owed = payment.get("auto_refund_due_since") is not None or payment.get("status") == "refunded"
        if not owed:
            state = "closed" if is_closed(order) else "not paid by it"
            verdict.offend(
                "payments", doc_id(payment), f"captured, order {doc_id(order)} is {state}, no refund due"
            )
    return verdict


def check_refunds(data: ShopData) -> Verdict:
    verdict = Verdict(
        "refunds-within-capture",
        "no payment has more refunded + being refunded than it captured; its counters match its refunds",
    )
    by_payment: dict[object, list[Document]] = defaultdict(list)
    for refund in data.refunds:
        by_payment[refund.get("payment_id")].append(refund)
    payments = {payment["_id"]: payment for payment in data.payments}
    for payment_id in sorted(set(by_payment) - set(payments), key=str):
        verdict.offend(
            "refunds",
            doc_id(by_payment[payment_id][0]),
            f"refunds payment {payment_id}, which does not exist",
        )
    for payment in data.payments:
        verdict.checked += 1
        refunds = by_payment.get(payment["_id"], [])
        succeeded = sum(number(r.get("amount")) for r in refunds if r.get("status") == "succeeded")
        pending = sum(number(r.get("amount")) for r in refunds if r.get("status") == "pending")
        # What the provider captured; before `captured_amount` was recorded, the payment's `amount`.
        captured = payment.get("captured_amount")
        amount = number(payment.get("amount") if captured is None else captured)
        recorded = (number(payment.get("refunded_amount")), number(payment.get("refund_pending_amount")))
        if succeeded + pending > amount or sum(recorded) > amount:
            verdict.offend(
                "payments",
                doc_id(payment),
                f"refunds {succeeded} + pending {pending} exceed capture {amount}",
            )
        elif (succeeded, pending) != recorded:
            verdict.offend(
                "payments",
                doc_id(payment),
                f"records refunded {recorded[0]} + pending {recorded[1]}, its refunds say "
                f"{succeeded} + {pending}",
            )
        elif succeeded and payment.get("status") not in CAPTURED_PAYMENT_STATES:
            verdict.offend("payments", doc_id(payment), f"{payment.get('status')} but {succeeded} refunded")
    return verdict


def check_all(data: ShopData, starting: Mapping[ObjectId, int] | None = None) -> list[Verdict]:
    return [
        check_stock(data, starting),
        check_lines(data),
        check_orders_whole(data),
        check_paid_orders(data),
        check_captured_payments(data),
        check_refunds(data),
    ]
