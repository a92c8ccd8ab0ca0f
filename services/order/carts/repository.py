"""Every MongoDB query on carts (one document per customer, keyed by user id)."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError

from shared.db import Database, Document

# Attempts to place an item when two requests race to create the same cart.
_UPSERT_ATTEMPTS = 3


async def find_cart(db: Database, user_id: str, session: AsyncClientSession | None = None) -> Document | None:
    return await db.carts.find_one({"_id": user_id}, session=session)


async def set_quantity(
    db: Database, user_id: str, product_id: ObjectId, quantity: int, now: datetime, max_items: int
) -> bool:
    """Set a line's quantity, adding the line if new; False when the cart is full. Atomic per request."""
    changed = await db.carts.update_one(
        {"_id": user_id, "items.product_id": product_id},
        {"$set": {"items.$.quantity": quantity, "updated_at": now}},
    )
    if changed.matched_count:
        return True
    line = {"product_id": product_id, "quantity": quantity, "added_at": now}
    for _ in range(_UPSERT_ATTEMPTS):
        try:
            added = await db.carts.update_one(
                # Not yet in the cart, and room for one more line (index max_items - 1 must not exist).
                {
                    "_id": user_id,
                    "items.product_id": {"$ne": product_id},
                    f"items.{max_items - 1}": {"$exists": False},
                },
                {"$push": {"items": line}, "$set": {"updated_at": now}},
                upsert=True,
            )
            return added.matched_count == 1 or added.upserted_id is not None
        except DuplicateKeyError:
            # The cart exists but the filter missed: the line was added meanwhile, or the cart is full.
            changed = await db.carts.update_one(
                {"_id": user_id, "items.product_id": product_id},
                {"$set": {"items.$.quantity": quantity, "updated_at": now}},
            )
            if changed.matched_count:
                return True
            cart = await find_cart(db, user_id)
            if cart is not None and len(cart["items"]) >= max_items:
                return False
    return False


async def remove_item(db: Database, user_id: str, product_id: ObjectId, now: datetime) -> None:
    await db.carts.update_one(
        {"_id": user_id}, {"$pull": {"items": {"product_id": product_id}}, "$set": {"updated_at": now}}
    )


async def remove_products(
    db: Database, user_id: str, product_ids: list[ObjectId], now: datetime, session: AsyncClientSession
) -> None:
    """Take ordered products out of the cart; anything added meanwhile stays."""
    await db.carts.update_one(
        {"_id": user_id},
        {"$pull": {"items": {"product_id": {"$in": product_ids}}}, "$set": {"updated_at": now}},
        session=session,
    )
