"""Reading orders: one order, and cursor-paginated listings (a customer's own, or all for admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId

from services.order.orders import repository
from services.order.orders.errors import InvalidOrderCursor, OrderNotFound
from services.order.orders.schemas import Order, OrderList
from services.order.orders.views import to_order
from shared import cursors
from shared.contracts.orders import FulfilmentStatus, MoneyStatus, OrderStatus
from shared.db import Database, Document
from shared.ids import to_object_id
from shared.tokens import Principal


@dataclass(frozen=True)
class OrderFilters:
    limit: int
    cursor: str | None = None
    status: OrderStatus | None = None
    user_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    fulfilment_status: FulfilmentStatus | None = None
    money_status: MoneyStatus | None = None


async def get_order(db: Database, order_id: str, caller: Principal) -> Order:
    """One order; another customer's order does not exist for the caller (404)."""
    doc = await repository.find_order(
        db, to_object_id(order_id), user_id=None if caller.is_admin else caller.user_id
    )
    if doc is None:
        raise OrderNotFound(f"No order with id {order_id}.")
    return to_order(doc)


async def list_orders(db: Database, caller: Principal, filters: OrderFilters) -> OrderList:
    """Newest first; customers see their own orders only, admins all (filtered as asked)."""
    query: Document = {}
    user_id = filters.user_id if caller.is_admin else caller.user_id
    if user_id:
        query["user_id"] = user_id
    if filters.status:
        query["status"] = filters.status.value
    if filters.fulfilment_status:
        query["fulfilment_status"] = filters.fulfilment_status.value
    if filters.money_status:
        query["money_status"] = filters.money_status.value
    created: Document = {}
    if filters.created_from:
        created["$gte"] = filters.created_from
    if filters.created_to:
        created["$lt"] = filters.created_to
    if created:
        query["created_at"] = created
    if filters.cursor:
        at, last_id = _position(filters.cursor)
        query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": last_id}}]
    docs = await repository.list_orders(db, query, filters.limit + 1)
    page = docs[: filters.limit]
    next_cursor = None
    if len(docs) > filters.limit:
        next_cursor = cursors.encode({"t": page[-1]["created_at"].isoformat(), "i": str(page[-1]["_id"])})
    return OrderList(items=[to_order(doc) for doc in page], next_cursor=next_cursor)


def _position(cursor: str) -> tuple[datetime, ObjectId]:
    try:
        payload = cursors.decode(cursor)
        if not isinstance(payload.get("t"), str) or not ObjectId.is_valid(payload.get("i")):
            raise ValueError("not an orders cursor")
        return datetime.fromisoformat(payload["t"]), ObjectId(payload["i"])
    except (ValueError, TypeError):
        raise InvalidOrderCursor("The cursor is malformed; start again without it.") from None
