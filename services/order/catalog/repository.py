"""Every query the order service makes on `products` (owned by catalog).

Stock changes here only ever run inside the transaction that creates, cancels, expires or refunds
the order they belong to, so units are sold and returned exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, Document

PRODUCT_FIELDS = {"sku": 1, "name": 1, "price": 1, "stock": 1, "active": 1}


async def find_products(
    db: Database, product_ids: Iterable[ObjectId], session: AsyncClientSession | None = None
) -> dict[ObjectId, Document]:
    ids = list(dict.fromkeys(product_ids))
    cursor = db.products.find({"_id": {"$in": ids}}, PRODUCT_FIELDS, session=session)
    return {doc["_id"]: doc async for doc in cursor}


async def take_stock(
    db: Database, product_id: ObjectId, quantity: int, now: datetime, session: AsyncClientSession
) -> bool:
    """Sell `quantity` units if at least that many are in stock and the product is active."""
    result = await db.products.update_one(
        {"_id": product_id, "active": True, "stock": {"$gte": quantity}},
        {"$inc": {"stock": -quantity, "version": 1}, "$set": {"updated_at": now}},
        session=session,
    )
    return result.modified_count == 1


async def return_stock(
    db: Database, product_id: ObjectId, quantity: int, now: datetime, session: AsyncClientSession
) -> None:
    """Put units back (cancel, expiry, refund); the caller guarantees it happens once per unit sold."""
    await db.products.update_one(
        {"_id": product_id},
        {"$inc": {"stock": quantity, "version": 1}, "$set": {"updated_at": now}},
        session=session,
    )
