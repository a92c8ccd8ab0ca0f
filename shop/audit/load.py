"""Loading what the checker reads: from a live database through one snapshot (so a shop taking orders
meanwhile cannot make the books look unbalanced), or from a verified backup (a baseline)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import bson
from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, Document, MongoClient
from shared.mongodb_url import where
from shop.audit.checks import ShopData, Verdict, check_all, starting_balance
from shop.audit.shapes import STATUS_FIELDS, number
from shop.backup.snapshot import choose_method, snapshot_of
from shop.backup.verify import VerifiedBackup
from shop.console import OperatorError

PRODUCT_FIELDS = {"stock": 1, "initial_stock": 1, "sku": 1}
ORDER_FIELDS = {
    "items": 1,
    "total": 1,
    "payment_id": 1,
    "user_id": 1,
    "created_at": 1,
    **dict.fromkeys(STATUS_FIELDS, 1),
}


@dataclass(frozen=True)
class AuditReport:
    database: str
    verdicts: list[Verdict]
    snapshot_method: str | None = None

    @property
    def ok(self) -> bool:
        return all(verdict.status != "FAIL" for verdict in self.verdicts)


def shop_data(
    products: Iterable[Document],
    orders: Iterable[Document],
    adjustments: Iterable[Document],
    payments: Iterable[Document],
    refunds: Iterable[Document],
    outbox: Iterable[Document],
    *,
    scoped: bool = False,
) -> ShopData:
    deltas: dict[Any, int] = defaultdict(int)
    for adjustment in adjustments:
        deltas[adjustment.get("product_id")] += number(adjustment.get("delta"))
    return ShopData(
        products=list(products),
        orders=list(orders),
        adjustments=dict(deltas),
        payments=list(payments),
        refunds=list(refunds),
        placed_events={event.get("aggregate_id") for event in outbox if event.get("type") == "OrderPlaced"},
        scoped=scoped,
    )


async def _read(
    db: Database, name: str, session: AsyncClientSession, query: Document, projection: Document | None = None
) -> list[Document]:
    return await db[name].find(query, projection, session=session, batch_size=5000).to_list()


async def load_database(
    client: MongoClient, db: Database, url: str, scope: Collection[ObjectId] | None = None
) -> tuple[ShopData, str]:
    """Everything the checker reads, at one point in time; also the snapshot method used.

    `scope` limits it to these products, the orders holding them, and those orders' payments and refunds
    (a test's own data in a shared database).
    """
    method = await choose_method(client, "auto")
    ids = {"$in": list(scope)} if scope is not None else None
    async with snapshot_of(client, db, method, url) as snapshot:
        session = snapshot.session
        orders = await _read(db, "orders", session, {"items.product_id": ids} if ids else {}, ORDER_FIELDS)
        order_ids = {"$in": [order["_id"] for order in orders]}
        payments = await _read(
            db, "payments", session, {"order_id": order_ids} if ids else {}, {"history": 0}
        )
        payment_ids = {"$in": [payment["_id"] for payment in payments]}
        data = shop_data(
            await _read(db, "products", session, {"_id": ids} if ids else {}, PRODUCT_FIELDS),
            orders,
            await _read(
                db,
                "stock_adjustments",
                session,
                {"product_id": ids} if ids else {},
                {"product_id": 1, "delta": 1},
            ),
            payments,
            await _read(db, "refunds", session, {"payment_id": payment_ids} if ids else {}),
            await _read(
                db,
                "outbox",
                session,
                {"aggregate_id": order_ids} if ids else {},
                {"type": 1, "aggregate_id": 1},
            ),
            scoped=scope is not None,
        )
    return data, method


def load_backup(backup: VerifiedBackup) -> ShopData:
    """The same data from a verified backup (collections it lacks read as empty)."""

    def documents(name: str) -> list[Document]:
        if name not in backup.manifest.collections:
            return []
        return [bson.decode(raw) for raw in backup.documents(name)]

    return shop_data(
        *(documents(n) for n in ("products", "orders", "stock_adjustments", "payments", "refunds", "outbox"))
    )


async def audit_database(
    client: MongoClient,
    database: str,
    url: str,
    *,
    starting_stock: Mapping[ObjectId, int] | None = None,
    scope: Collection[ObjectId] | None = None,
) -> AuditReport:
    """Every invariant's verdict on `database` (read-only). `starting_stock` maps product ids to the
    stock they started with (a test's own record, or a baseline backup's); without it products whose
    document records no `initial_stock` are skipped by the stock balance."""
    if not await client[database].list_collection_names():
        raise OperatorError(f"database {database!r} on {where(url)} holds no collections: is the name right?")
    data, method = await load_database(client, client[database], url, scope)
    return AuditReport(database, check_all(data, starting_stock), method)


def baseline_from_backup(backup: VerifiedBackup) -> dict[ObjectId, int]:
    """Each product's starting stock implied by an earlier backup: its stock + held - adjustments then."""
    return starting_balance(load_backup(backup))
