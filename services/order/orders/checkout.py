"""Checkout: price the lines from the catalog, then create the order and take its stock in one
transaction, exactly once per Idempotency-Key.

Before it, the order is priced and its total checked against the money bounds (422
`total-too-large`, or `zero-total` for an order of nothing to pay; nothing written). Inside the
transaction, in this order: write the customer's checkout guard (serialises one customer's
checkouts, see holds.py), claim the idempotency key (a retry stops here), check the fair-stock
limits on the snapshot (409), insert the order, take the ordered products out of the cart, write
the OrderPlaced event, and last, for every line, a guarded decrement (`stock >= quantity`). The
decrements are the contended writes, so they come just before commit (DESIGN §3); one miss aborts
everything, and nothing was changed.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from services.order.carts import repository as carts
from services.order.catalog import repository as catalog
from services.order.orders import repository
from services.order.orders.errors import (
    EmptyCart,
    IdempotencyKeyReused,
    InactiveProducts,
    InsufficientStock,
    MixedCurrencies,
    OrderNotFound,
    TotalTooLarge,
    UnknownProducts,
    ZeroTotal,
)
from services.order.orders.events import event
from services.order.orders.holds import enforce_limits
from services.order.orders.schemas import Order, PlaceOrder
from services.order.orders.state import FulfilmentStatus, MoneyStatus, OrderStatus
from services.order.orders.views import to_order
from services.order.settings import OrderSettings
from shared.clock import utcnow
from shared.db import Database, Document, MongoClient, with_transaction
from shared.errors import ValidationFailed
from shared.ids import unguessable_object_id
from shared.logging import log_event
from shared.money import MAX_AMOUNT, within_bounds
from shared.order_states import history_entry

logger = logging.getLogger("order.checkout")


@dataclass(frozen=True)
class OrderContext:
    client: MongoClient
    db: Database
    settings: OrderSettings


@dataclass(frozen=True)
class Placed:
    order: Order
    replayed: bool


class _ShortLine(Exception):
    """A guarded decrement missed; aborts the transaction."""

    def __init__(self, product_id: ObjectId) -> None:
        super().__init__(str(product_id))
        self.product_id = product_id


def fingerprint(request: PlaceOrder) -> str:
    """What makes two requests "the same" for an Idempotency-Key."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def place_order(ctx: OrderContext, user_id: str, request: PlaceOrder, key: str) -> Placed:
    """Create a pending_payment order and take its stock, once per (user, Idempotency-Key)."""
    request_print = fingerprint(request)
    existing = await repository.find_idempotency_key(ctx.db, user_id, key)
    if existing is not None:
        return await _replay(ctx, existing, request_print)
    wanted = await _wanted_lines(ctx, user_id, request)
    lines = await price_lines(ctx, wanted)
    now = utcnow()
    order = new_order(user_id, lines, now, ctx.settings, key)
    await repository.ensure_checkout_guard(ctx.db, user_id, now)

    async def create(session: AsyncClientSession) -> None:
        # First, so the snapshot this transaction reads is never older than another checkout of the
        # same customer that committed before this write succeeded.
        await repository.bump_checkout_guard(ctx.db, user_id, now, session)
        await repository.insert_idempotency_key(
            ctx.db,
            {
                "user_id": user_id,
                "key": key,
                "fingerprint": request_print,
                "order_id": order["_id"],
                "created_at": now,
            },
            session,
        )
        await enforce_limits(ctx.db, ctx.settings, user_id, lines, session)
        await repository.insert_order(ctx.db, order, session)
        if request.from_cart:
            await carts.remove_products(ctx.db, user_id, [line["product_id"] for line in lines], now, session)
        await repository.insert_event(ctx.db, event("OrderPlaced", order, now), session)
        for line in sorted(lines, key=lambda line: line["product_id"]):
            if not await catalog.take_stock(ctx.db, line["product_id"], line["quantity"], now, session):
                raise _ShortLine(line["product_id"])

    try:
        await with_transaction(ctx.client, create, timeout_seconds=ctx.settings.transaction_timeout_seconds)
    except DuplicateKeyError:
        # The same key committed by a concurrent request: answer with what it created.
        claimed = await repository.find_idempotency_key(ctx.db, user_id, key)
        if claimed is None:
            raise
        return await _replay(ctx, claimed, request_print)
    except _ShortLine as short:
        raise InsufficientStock(await shortages(ctx.db, lines, short.product_id)) from None
    log_event(
        logger, "order.placed", order_id=str(order["_id"]), lines=len(lines), total=order["total"]["amount"]
    )
    return Placed(to_order(order), replayed=False)


async def _replay(ctx: OrderContext, record: Document, request_print: str) -> Placed:
    if record["fingerprint"] != request_print:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different order request; use a new key."
        )
    order = await repository.find_order(ctx.db, record["order_id"])
    if order is None:
        raise OrderNotFound("The order this Idempotency-Key created no longer exists.")
    return Placed(to_order(order), replayed=True)


async def _wanted_lines(ctx: OrderContext, user_id: str, request: PlaceOrder) -> list[tuple[ObjectId, int]]:
    if request.items is not None:
        return [(ObjectId(line.product_id), line.quantity) for line in request.items]
    cart = await carts.find_cart(ctx.db, user_id)
    if not cart or not cart["items"]:
        raise EmptyCart("There is nothing in the cart to order.")
    return [(item["product_id"], item["quantity"]) for item in cart["items"]]


async def price_lines(ctx: OrderContext, wanted: list[tuple[ObjectId, int]]) -> list[Document]:
    """Order lines priced from the catalog now; the client never sends a price."""
    limits = ctx.settings
    if len(wanted) > limits.max_order_lines:
        raise ValidationFailed(f"An order has at most {limits.max_order_lines} lines.")
    if any(quantity > limits.max_line_quantity for _, quantity in wanted):
        raise ValidationFailed(f"A line has at most {limits.max_line_quantity} units.")
    products = await catalog.find_products(ctx.db, (product_id for product_id, _ in wanted))
    unknown = [str(product_id) for product_id, _ in wanted if product_id not in products]
    if unknown:
        raise UnknownProducts("Some products do not exist.", product_ids=unknown)
    inactive = [str(product_id) for product_id, _ in wanted if not products[product_id]["active"]]
    if inactive:
        raise InactiveProducts("Some products can no longer be ordered.", product_ids=inactive)
    if len({products[product_id]["price"]["currency"] for product_id, _ in wanted}) > 1:
        raise MixedCurrencies("Products priced in different currencies must be ordered separately.")
    return [_line(products[product_id], quantity) for product_id, quantity in wanted]


def _line(product: Document, quantity: int) -> Document:
    unit = product["price"]
    return {
        "product_id": product["_id"],
        "sku": product["sku"],
        "name": product["name"],
        "quantity": quantity,
        "unit_price": {"amount": unit["amount"], "currency": unit["currency"]},
        "line_total": {"amount": unit["amount"] * quantity, "currency": unit["currency"]},
        "restocked_quantity": 0,
    }


def new_order(
    user_id: str, lines: list[Document], now: datetime, settings: OrderSettings, key: str
) -> Document:
    """The order document (not yet written); 422 if its total is above what any amount may be."""
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
    return {
        # Not a default ObjectId: those are a counter, so one's own order id would reveal others'.
        "_id": unguessable_object_id(),
        "user_id": user_id,
        "status": OrderStatus.PENDING_PAYMENT.value,
        "fulfilment_status": FulfilmentStatus.PLACED.value,
        "money_status": MoneyStatus.UNPAID.value,
        "items": lines,
        "total": {"amount": total, "currency": currency},
        "created_at": now,
        "updated_at": now,
        "expires_at": now + timedelta(seconds=settings.order_payment_ttl_seconds),
        "history": [history_entry(FulfilmentStatus.PLACED, MoneyStatus.UNPAID, now, user_id)],
        "idempotency_key": key,
    }


async def shortages(db: Database, lines: list[Document], missed: ObjectId) -> list[Document]:
    """Every line that cannot be served now, with what is available (the missed one at least)."""
    products = await catalog.find_products(db, (line["product_id"] for line in lines))
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
