"""Checkout: price the lines from the catalog, then create the order and take its stock in one
transaction, exactly once per Idempotency-Key.

Before it, the order is priced and its total checked against the money bounds (pricing.py: 422
`total-too-large`, or `zero-total` for an order of nothing to pay; nothing written). Inside the
transaction, in this order: write the customer's checkout guard (serialises one customer's
checkouts, see holds.py), then for every line a guarded decrement (`stock >= quantity`), claim the
idempotency key (a retry stops here), check the fair-stock limits on the snapshot (409), insert the
order, take the ordered products out of the cart, and write the OrderPlaced event. The decrements
are the contended writes: early, so that a run refused by a write conflict is refused before it
did the rest, which the benchmark measured as cheaper than a short hold (docs/transactions.md);
one miss aborts everything, and nothing was changed. A line already short as read before the
transaction is refused without one.
"""

from __future__ import annotations

import logging
import time

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from services.order.carts import repository as carts
from services.order.catalog import repository as catalog
from services.order.orders import repository
from services.order.orders.errors import EmptyCart, InsufficientStock, OrderNotFound
from services.order.orders.holds import enforce_limits
from services.order.orders.pricing import Wanted, check_size, new_order, priced_lines, shortages
from services.order.orders.schemas import Order, PlaceOrder
from services.order.orders.views import to_order
from services.order.settings import OrderSettings
from shared.clock import utcnow
from shared.context import ServiceContext
from shared.contracts.orders import ORDER_PLACED, order_event
from shared.db import Document
from shared.idempotency import Once, claim_or_replay, fingerprint
from shared.logging import log_event

logger = logging.getLogger("order.checkout")

# What the order use cases work with (checkout, cancel, expiry, fulfilment).
OrderContext = ServiceContext[OrderSettings]


class _NoGuard(Exception):
    """The customer has no checkout guard document yet; aborts the transaction."""


class _ShortLine(Exception):
    """A guarded decrement missed; aborts the transaction."""

    def __init__(self, product_id: ObjectId) -> None:
        super().__init__(str(product_id))
        self.product_id = product_id


async def place_order(ctx: OrderContext, user_id: str, request: PlaceOrder, key: str) -> Once[Order]:
    """Create a pending_payment order and take its stock, once per (user, Idempotency-Key)."""
    request_print = fingerprint(request)

    async def create() -> Order:
        return await _place(ctx, user_id, request, key, request_print)

    async def replay(record: Document) -> Order:
        order = await repository.find_order(ctx.db, record["order_id"])
        if order is None:
            raise OrderNotFound("The order this Idempotency-Key created no longer exists.")
        return to_order(order)

    return await claim_or_replay(
        find=lambda: repository.find_idempotency_key(ctx.db, user_id, key),
        same_request=lambda record: record["fingerprint"] == request_print,
        create=create,
        replay=replay,
        what="order",
    )


async def _place(ctx: OrderContext, user_id: str, request: PlaceOrder, key: str, request_print: str) -> Order:
    wanted = await _wanted_lines(ctx, user_id, request)
    check_size(wanted, ctx.settings)
    products = await catalog.find_products(ctx.db, (product_id for product_id, _ in wanted))
    lines = priced_lines(products, wanted)
    now = utcnow()
    order = new_order(user_id, lines, now, ctx.settings, key)
    # Already short as read a moment ago: refused without a transaction (a sold-out product's
    # crowd would otherwise keep contending with the buyers still being served).
    short = shortages(lines, products, missed=None)
    if short:
        raise InsufficientStock(short)
    claim = {
        "user_id": user_id,
        "key": key,
        "fingerprint": request_print,
        "order_id": order["_id"],
        "created_at": now,
    }
    event = order_event(ORDER_PLACED, order, now)
    attempts = 0

    async def create(session: AsyncClientSession) -> None:
        nonlocal attempts
        attempts += 1
        # First, so the snapshot this transaction reads is never older than another checkout of the
        # same customer that committed before this write succeeded.
        if not await repository.bump_checkout_guard(ctx.db, user_id, now, session):
            raise _NoGuard
        # The contended writes next, not last: a run that meets a conflict there has done two writes
        # rather than six when it is rerun (docs/transactions.md has the measurement).
        for line in sorted(lines, key=lambda line: line["product_id"]):
            if not await catalog.take_stock(ctx.db, line["product_id"], line["quantity"], now, session):
                raise _ShortLine(line["product_id"])
        await repository.insert_idempotency_key(ctx.db, claim, session)
        await enforce_limits(ctx.db, ctx.settings, user_id, lines, session)
        await repository.insert_order(ctx.db, order, session)
        if request.from_cart:
            await carts.remove_products(ctx.db, user_id, [line["product_id"] for line in lines], now, session)
        await repository.insert_event(ctx.db, event, session)

    started = time.perf_counter()
    try:
        try:
            await ctx.transaction(create)
        except _NoGuard:
            # The customer's first checkout: create the guard (outside any transaction: an upsert in
            # two racing transactions can fail with a duplicate key, which is not retried), then again.
            await repository.ensure_checkout_guard(ctx.db, user_id, now)
            await ctx.transaction(create)
    except _ShortLine as missed:
        products = await catalog.find_products(ctx.db, (line["product_id"] for line in lines))
        raise InsufficientStock(shortages(lines, products, missed.product_id)) from None
    log_event(
        logger,
        "order.placed",
        order_id=str(order["_id"]),
        lines=len(lines),
        total=order["total"]["amount"],
        # How contended checkout is: runs of the transaction (1 without a conflict) and their time.
        attempts=attempts,
        transaction_ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return to_order(order)


async def _wanted_lines(ctx: OrderContext, user_id: str, request: PlaceOrder) -> Wanted:
    if request.items is not None:
        return [(ObjectId(line.product_id), line.quantity) for line in request.items]
    cart = await carts.find_cart(ctx.db, user_id)
    if not cart or not cart["items"]:
        raise EmptyCart("There is nothing in the cart to order.")
    return [(item["product_id"], item["quantity"]) for item in cart["items"]]
