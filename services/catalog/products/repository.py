"""Every MongoDB query on products and their stock-adjustment history."""

from __future__ import annotations

from datetime import datetime

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, Document


async def insert_product(db: Database, product: Document) -> None:
    """Insert a product; the unique sku index raises DuplicateKeyError for a taken sku."""
    await db.products.insert_one(product)


async def find_product(
    db: Database, product_id: ObjectId, session: AsyncClientSession | None = None
) -> Document | None:
    return await db.products.find_one({"_id": product_id}, session=session)


async def find_by_sku(db: Database, sku: str) -> Document | None:
    return await db.products.find_one({"sku": sku})


async def list_products(
    db: Database, query: Document, sort: list[tuple[str, int]], limit: int
) -> list[Document]:
    return await db.products.find(query).sort(sort).limit(limit).to_list()


async def update_if_version(
    db: Database, product_id: ObjectId, version: int, changes: Document
) -> Document | None:
    """Apply `changes` only if nobody wrote since `version` was read; bumps the version."""
    return await db.products.find_one_and_update(
        {"_id": product_id, "version": version},
        {"$set": changes, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )


async def deactivate(db: Database, product_id: ObjectId, now: datetime) -> Document | None:
    """Hide a product from shoppers and orders; the document and its history stay."""
    return await db.products.find_one_and_update(
        {"_id": product_id, "active": True},
        {"$set": {"active": False, "updated_at": now}, "$inc": {"version": 1}},
        return_document=ReturnDocument.AFTER,
    )


async def increment_stock(
    db: Database, product_id: ObjectId, delta: int, ceiling: int, now: datetime, session: AsyncClientSession
) -> Document | None:
    """Add `delta` atomically, guarded so stock stays within 0..`ceiling` (None on a miss).

    Only an addition is held to the ceiling: returns from cancelled orders may pass it, and must.
    """
    guard: Document = {"_id": product_id}
    guard["stock"] = {"$gte": -delta} if delta < 0 else {"$lte": ceiling - delta}
    return await db.products.find_one_and_update(
        guard,
        {"$inc": {"stock": delta, "version": 1}, "$set": {"updated_at": now}},
        session=session,
        return_document=ReturnDocument.AFTER,
    )


async def insert_adjustment(db: Database, adjustment: Document, session: AsyncClientSession) -> None:
    await db.stock_adjustments.insert_one(adjustment, session=session)
