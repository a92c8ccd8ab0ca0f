"""The order service's adapter to `products` (owned by the catalog service).

Why this crossing exists: an order is priced from the catalog as it is at checkout, and its units
are taken from stock in the same transaction that creates the order, so nothing is ever oversold;
cancellation and expiry give them back in the transaction that closes the order, so they come back
exactly once. Every read and write the order service makes on `products` goes through here; the
stock writes themselves are the shared ones (`shared/stock.py`) that refunds use too.
"""

from __future__ import annotations

from collections.abc import Iterable

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, Document
from shared.stock import return_stock, take_stock

__all__ = ["PRODUCT_FIELDS", "find_products", "return_stock", "take_stock"]

PRODUCT_FIELDS = {"sku": 1, "name": 1, "price": 1, "stock": 1, "active": 1}


async def find_products(
    db: Database, product_ids: Iterable[ObjectId], session: AsyncClientSession | None = None
) -> dict[ObjectId, Document]:
    ids = list(dict.fromkeys(product_ids))
    cursor = db.products.find({"_id": {"$in": ids}}, PRODUCT_FIELDS, session=session)
    return {doc["_id"]: doc async for doc in cursor}
