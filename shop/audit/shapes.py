"""Reading orders, payments and refunds defensively, so the checker survives changes of shape.

An order's state may be one `status` or separate fulfilment and money fields; whichever fields
are present are read together. What the checker needs is only: did the order give its units back
(cancelled, expired), is it paid for, and which units of each line are still out of stock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from bson import ObjectId

from shared.db import Document

STATUS_FIELDS = ("status", "fulfilment_status", "fulfillment_status", "payment_status", "money_status")
# An order in one of these gave all its units back in the transaction that closed it.
CLOSED_STATES = frozenset({"cancelled", "canceled", "expired"})
# An order in one of these was paid for (and may have been refunded since).
PAID_STATES = frozenset({"paid", "shipped", "delivered", "partially_refunded", "refunded"})
CAPTURED_PAYMENT_STATES = frozenset({"succeeded", "partially_refunded", "refunded"})


def states(order: Document) -> set[str]:
    """Every state the order's status fields name (a nested `status: {fulfilment, money}` too)."""
    found: set[str] = set()
    for name in STATUS_FIELDS:
        value = order.get(name)
        if isinstance(value, str):
            found.add(value)
        elif isinstance(value, dict):
            found.update(v for v in value.values() if isinstance(v, str))
    return found


def is_closed(order: Document) -> bool:
    return bool(states(order) & CLOSED_STATES)


def is_paid(order: Document) -> bool:
    return order.get("payment_id") is not None or bool(states(order) & PAID_STATES)


def number(value: Any) -> int:
    """A stored count or amount; anything missing or not a number counts as 0 (and shows elsewhere)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def lines(order: Document) -> list[Document]:
    items = order.get("items")
    return [line for line in items if isinstance(line, dict)] if isinstance(items, list) else []


def held_units(order: Document) -> Counter[ObjectId]:
    """Units of each product the order keeps out of stock: none once closed, else ordered - restocked."""
    held: Counter[ObjectId] = Counter()
    if is_closed(order):
        return held
    for line in lines(order):
        product_id = line.get("product_id")
        if product_id is not None:
            held[product_id] += number(line.get("quantity")) - number(line.get("restocked_quantity"))
    return held


def held_by_product(orders: Iterable[Document]) -> Counter[ObjectId]:
    total: Counter[ObjectId] = Counter()
    for order in orders:
        total.update(held_units(order))
    return total


def amount_of(money: Any) -> tuple[int, str | None]:
    if isinstance(money, dict):
        return number(money.get("amount")), money.get("currency")
    return number(money), None


def doc_id(doc: Document) -> str:
    return str(doc.get("_id"))
