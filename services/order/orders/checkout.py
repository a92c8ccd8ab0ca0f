"""Checkout: price the lines from the catalog, then create the order and take its stock in one
transaction, exactly once per Idempotency-Key.

Before it, the order is priced and its total checked against the money bounds (pricing.py: 422
`total-too-large`, or `zero-total` for an order of nothing to pay; nothing written). Inside the
transaction, in this order: write the customer's checkout guard (serialises one customer's
checkouts, see holds.py), claim the idempotency key (a retry stops here), check the fair-stock
limits on the snapshot (409), insert the order, take the ordered products out of the cart, write
the OrderPlaced event, and last, for every line, a guarded decrement (`stock >= quantity`). The
decrements are the contended writes, so they come just before commit (docs/transactions.md); one
miss aborts everything, and nothing was changed.
"""

from __future__ import annotations

import logging

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
    lines = priced_lines(
        await catalog.find_products(ctx.db, (product_id for product_id, _ in wanted)), wanted
    )
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
        await repository.insert_event(ctx.db, order_event(ORDER_PLACED, order, now), session)
        for line in sorted(lines, key=lambda line: line["product_id"]):
            if not await catalog.take_stock(ctx.db, line["product_id"], line["quantity"], now, session):
                raise _ShortLine(line["product_id"])

    try:
        await ctx.transaction(create)
    except _ShortLine as short:
        products = await catalog.find_products(ctx.db, (line["product_id"] for line in lines))
        raise InsufficientStock(shortages(lines, products, short.product_id)) from None
    log_event(
        logger, "order.placed", order_id=str(order["_id"]), lines=len(lines), total=order["total"]["amount"]
    )
    return to_order(order)


async def _wanted_lines(ctx: OrderContext, user_id: str, request: PlaceOrder) -> Wanted:
    if request.items is not None:
        return [(ObjectId(line.product_id), line.quantity) for line in request.items]
    cart = await carts.find_cart(ctx.db, user_id)
    if not cart or not cart["items"]:
        raise EmptyCart("There is nothing in the cart to order.")
    return [(item["product_id"], item["quantity"]) for item in cart["items"]]
