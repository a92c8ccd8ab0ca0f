"""Pricing an order from the catalog as it is now: the pure rules of checkout.

The client names products and quantities, never a price. Each line is priced from the product's
current price; an order is in one currency, within the shop's bounds (MAX_ORDER_LINES,
MAX_LINE_QUANTITY), and its total within what any amount may be (shared.money.MAX_AMOUNT) and above
nothing. Everything here works on documents already read: checkout.py reads and writes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bson import ObjectId

from services.order.orders.errors import (
    InactiveProducts,
    MixedCurrencies,
    TotalTooLarge,
    UnknownProducts,
    ZeroTotal,
)
from services.order.settings import OrderSettings
from shared.contracts.orders import (
    PENDING_PAYMENT,
    RESTOCKED_QUANTITY,
    FulfilmentStatus,
    MoneyStatus,
    history_entry,
)
from shared.db import Document
from shared.errors import ValidationFailed
from shared.ids import unguessable_object_id
from shared.money import MAX_AMOUNT, within_bounds

Wanted = list[tuple[ObjectId, int]]


def check_size(wanted: Wanted, settings: OrderSettings) -> None:
    """The shop's own bounds of one order (the request schema holds the hard ceilings)."""
    if len(wanted) > settings.max_order_lines:
        raise ValidationFailed(f"An order has at most {settings.max_order_lines} lines.")
    if any(quantity > settings.max_line_quantity for _, quantity in wanted):
        raise ValidationFailed(f"A line has at most {settings.max_line_quantity} units.")


def priced_lines(products: dict[ObjectId, Document], wanted: Wanted) -> list[Document]:
    """Order lines priced from `products` (as read from the catalog now); 422 for any product that
    does not exist or is no longer sold, and for products priced in different currencies."""
    unknown = [str(product_id) for product_id, _ in wanted if product_id not in products]
    if unknown:
        raise UnknownProducts("Some products do not exist.", product_ids=unknown)
    inactive = [str(product_id) for product_id, _ in wanted if not products[product_id]["active"]]
    if inactive:
        raise InactiveProducts("Some products can no longer be ordered.", product_ids=inactive)
    if len({products[product_id]["price"]["currency"] for product_id, _ in wanted}) > 1:
        raise MixedCurrencies("Products priced in different currencies must be ordered separately.")
    return [line_of(products[product_id], quantity) for product_id, quantity in wanted]


def line_of(product: Document, quantity: int) -> Document:
    """One order line: what was ordered, at the unit price of the moment, and nothing restocked yet."""
    unit = product["price"]
    return {
        "product_id": product["_id"],
        "sku": product["sku"],
        "name": product["name"],
        "quantity": quantity,
        "unit_price": {"amount": unit["amount"], "currency": unit["currency"]},
        "line_total": {"amount": unit["amount"] * quantity, "currency": unit["currency"]},
        RESTOCKED_QUANTITY: 0,
    }


def total_of(lines: list[Document]) -> Document:
    """The order's total; 422 above what any amount may be, or for an order of nothing to pay."""
    assert lines
    currency = lines[0]["unit_price"]["currency"]
    total = sum(line["line_total"]["amount"] for line in lines)
    if not within_bounds(total):
        raise TotalTooLarge(
            f"This order would come to {total} {currency} (minor units); one order may come to at most "
            f"{MAX_AMOUNT}. Split it into smaller orders.",
            limit=MAX_AMOUNT,
        )
    if total == 0:
        # No provider takes a payment of nothing (Stripe refuses 0), and an order that is never paid
        # would only hold stock until it expires: free items are ordered with something priced.
        raise ZeroTotal("This order comes to nothing; an order must have something to pay.")
    return {"amount": total, "currency": currency}


def new_order(
    user_id: str, lines: list[Document], now: datetime, settings: OrderSettings, key: str
) -> Document:
    """The order document (not yet written), waiting for its payment until it expires."""
    return {
        # Not a default ObjectId: those are a counter, so one's own order id would reveal others'.
        "_id": unguessable_object_id(),
        "user_id": user_id,
        "status": PENDING_PAYMENT,
        "fulfilment_status": FulfilmentStatus.PLACED.value,
        "money_status": MoneyStatus.UNPAID.value,
        "items": lines,
        "total": total_of(lines),
        "created_at": now,
        "updated_at": now,
        "expires_at": now + timedelta(seconds=settings.order_payment_ttl_seconds),
        "history": [history_entry(FulfilmentStatus.PLACED, MoneyStatus.UNPAID, now, user_id)],
        "idempotency_key": key,
    }


def shortages(
    lines: list[Document], products: dict[ObjectId, Document], missed: ObjectId | None
) -> list[Document]:
    """Every line that cannot be served from `products` (as read now), with what is available; the
    line whose decrement missed (if any) is named even if stock came back since."""
    short = []
    for line in lines:
        product = products.get(line["product_id"])
        available = product["stock"] if product and product["active"] else 0
        if available < line["quantity"] or line["product_id"] == missed:
            short.append(
                {
                    "product_id": str(line["product_id"]),
                    "sku": line["sku"],
                    "requested": line["quantity"],
                    "available": available,
                }
            )
    return short
