"""Every read and write the payment service makes on data the order service owns.

Why this crossing exists: money and goods must move together. A payment pays its order in the
same transaction that records the provider's capture, so an order is never paid without money nor
money kept without a paid order; a refund moves the order's money status and returns its units to
stock in the same transaction that books the refund, so units come back exactly once. Doing either
through the order service's HTTP API would split one atomic change into two that can fail apart.

So the payment service touches `orders` (and, through the shared stock function, `products.stock`)
here and nowhere else, always by the rules of the order contract (`shared/contracts/orders.py`):
guarded transitions, history entries and the line counters it defines. It also reads the order
service's outbox for orders that closed, to withdraw their pending provider payments.
"""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.contracts.orders import (
    CLOSING_EVENTS,
    PENDING_PAYMENT,
    RESTOCK_PENDING,
    RESTOCKED_QUANTITY,
    migration_set,
    money_after_refund,
    paid_by,
    refund_guard,
    transition_pipeline,
)
from shared.db import Database, Document
from shared.stock import return_stock

__all__ = [
    "book_money",
    "book_restock",
    "closed_since",
    "find_order",
    "find_owned_order",
    "pay",
    "reserve_restock",
    "return_stock",
    "status_of",
]


async def find_order(
    db: Database, order_id: ObjectId, session: AsyncClientSession | None = None
) -> Document | None:
    return await db.orders.find_one({"_id": order_id}, session=session)


async def find_owned_order(
    db: Database, order_id: ObjectId, user_id: str, session: AsyncClientSession
) -> Document | None:
    """The order, if it belongs to `user_id` (others' orders do not exist for a payer)."""
    return await db.orders.find_one({"_id": order_id, "user_id": user_id}, session=session)


async def status_of(db: Database, order_id: ObjectId) -> str | None:
    """The order's public status (None: no such order)."""
    order = await db.orders.find_one({"_id": order_id}, {"status": 1})
    return None if order is None else str(order["status"])


async def pay(
    db: Database, order_id: ObjectId, payment_id: ObjectId, now: datetime, session: AsyncClientSession
) -> Document | None:
    """Mark the order paid by this payment if it still waits for payment; None if it does not.

    Guarded on the public status, which is pending_payment exactly when the order is placed and
    unpaid, whether or not it was stored before the two statuses existed.
    """
    return await db.orders.find_one_and_update(
        {"_id": order_id, "status": PENDING_PAYMENT},
        transition_pipeline(paid_by(payment_id), now, f"payment:{payment_id}", None),
        session=session,
    )


async def reserve_restock(
    db: Database, order_id: ObjectId, product_id: ObjectId, quantity: int, session: AsyncClientSession
) -> None:
    """Hold units of a line for a refund the provider has not confirmed yet."""
    await db.orders.update_one(
        {"_id": order_id},
        {"$inc": {f"items.$[line].{RESTOCK_PENDING}": quantity}},
        array_filters=[{"line.product_id": product_id}],
        session=session,
    )


async def book_restock(
    db: Database, order_id: ObjectId, lines: list[Document], succeeded: bool, session: AsyncClientSession
) -> None:
    """Release a refund's line holds; when it succeeded, count the units as returned."""
    for line in lines:
        returned = line["quantity"] if succeeded else 0
        await db.orders.update_one(
            {"_id": order_id},
            {
                "$inc": {
                    f"items.$[line].{RESTOCK_PENDING}": -line["quantity"],
                    f"items.$[line].{RESTOCKED_QUANTITY}": returned,
                }
            },
            array_filters=[{"line.product_id": line["product_id"]}],
            session=session,
        )


async def book_money(
    db: Database, payment: Document, actor: str, now: datetime, session: AsyncClientSession
) -> None:
    """A refund of `payment` (as booked just now) moves its order's money status, never its
    fulfilment, while the payment holds the order's sale: refunded once all of it is back."""
    order_id, payment_id = payment["order_id"], payment["_id"]
    money = money_after_refund(payment["status"] == "refunded")
    order = await find_order(db, order_id, session)
    if order is None:
        return
    legacy = migration_set(order)
    if legacy is not None:  # stored before the two statuses: give it them first, in this transaction
        await db.orders.update_one({"_id": order_id}, {"$set": legacy}, session=session)
    await db.orders.update_one(
        refund_guard(order_id, payment_id),
        transition_pipeline({"money_status": money.value}, now, actor, "refund"),
        session=session,
    )


async def closed_since(db: Database, since: datetime, limit: int) -> list[ObjectId]:
    """Orders closed unpaid (cancelled, expired) since `since`, newest first, from the order outbox."""
    closed = db.outbox.find(
        {"type": {"$in": list(CLOSING_EVENTS.values())}, "created_at": {"$gte": since}}, {"aggregate_id": 1}
    )
    return [event["aggregate_id"] async for event in closed.sort("created_at", -1).limit(limit)]
