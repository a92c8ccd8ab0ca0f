"""Units that orders sell and give back: the one write into `products` from outside the catalog.

The catalog service owns products. Orders take their units at checkout and give them back when an
unpaid order is cancelled or expires and when a refund returns them; each of those happens in the
same transaction as the order (or refund) change it belongs to, so a unit is sold and returned
exactly once. The order service (checkout, cancel, expiry) and the payment service (refunds) both
use these two functions, through their own adapters (`services/order/catalog/repository.py`,
`services/payment/orders/repository.py`), and nothing else of `products` is written outside the
catalog service.

Both are the contended writes of their transactions: callers run them last, just before commit
(docs/transactions.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database


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
    db: Database, lines: Iterable[Mapping[str, Any]], now: datetime, session: AsyncClientSession
) -> None:
    """Put the units of `lines` ({product_id, quantity} each) back in stock, in product id order.

    The caller guarantees it happens once per unit sold (a guarded order or refund change in the
    same transaction). The fixed order keeps two transactions returning the same products from
    taking their document locks in opposite orders.
    """
    for line in sorted(lines, key=lambda line: line["product_id"]):
        await db.products.update_one(
            {"_id": line["product_id"]},
            {"$inc": {"stock": line["quantity"], "version": 1}, "$set": {"updated_at": now}},
            session=session,
        )
