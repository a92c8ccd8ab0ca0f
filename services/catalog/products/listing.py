"""Product listings: filters, the allowed sorts, and opaque keyset cursors.

A cursor holds the sort key and `_id` of the last item served; the next page starts strictly
after it in (sort key, `_id`) order. Inserts and removals elsewhere therefore never make a walk
skip or repeat an item that existed throughout it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId

from services.catalog.products.errors import InvalidCursor
from services.catalog.products.schemas import Sort
from services.catalog.products.search import search_filter
from shared import cursors
from shared.db import Document


@dataclass(frozen=True)
class SortSpec:
    field: str
    direction: int  # 1 ascending, -1 descending; `_id` breaks ties in the same direction

    def mongo_sort(self) -> list[tuple[str, int]]:
        return [(self.field, self.direction), ("_id", self.direction)]


SORTS: dict[str, SortSpec] = {
    "newest": SortSpec("created_at", -1),
    "price_asc": SortSpec("price.amount", 1),
    "price_desc": SortSpec("price.amount", -1),
    "name": SortSpec("name_key", 1),
}


@dataclass(frozen=True)
class ListingQuery:
    limit: int
    sort: Sort
    cursor: str | None = None
    q: str | None = None
    category: str | None = None
    active: bool | None = None
    in_stock: bool | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None


def listing_filter(query: ListingQuery, *, include_inactive: bool) -> Document:
    """The MongoDB filter of a listing; non-admins only ever see active products.

    One flat document (no `$and`): MongoDB plans both forms alike, but the embedded server only
    uses an index for flat equality and range conditions.
    """
    query_filter: Document = {"active": _active_value(query.active, include_inactive)}
    if query.category:
        query_filter["category"] = query.category
    if query.q is not None:
        # A query with no searchable word (only punctuation, say) matches nothing rather than everything.
        query_filter.update(search_filter(query.q) or {"search_terms": {"$in": []}})
    if query.in_stock is not None:
        query_filter["stock"] = {"$gt": 0} if query.in_stock else 0
    price: Document = {}
    if query.min_price is not None:
        price["$gte"] = query.min_price
    if query.max_price is not None:
        price["$lte"] = query.max_price
    if query.currency:
        query_filter["price.currency"] = query.currency
    if query.cursor:
        spec = SORTS[query.sort]
        key, last_id = decode_cursor(query.cursor, query.sort)
        query_filter["$or"] = _after(spec, key, last_id)
        # Redundant with the $or, but a plain range on the sort key lets any planner start at the cursor.
        bound = {"$gte": key} if spec.direction == 1 else {"$lte": key}
        if spec.field == "price.amount":
            price = _tighter(price, bound)
        else:
            query_filter[spec.field] = bound
    if price:
        query_filter["price.amount"] = price
    return query_filter


def _tighter(price: Document, bound: Document) -> Document:
    """Both ranges on the price at once: the larger lower bound and the smaller upper bound win."""
    merged = dict(price)
    for operator, value in bound.items():
        current = merged.get(operator)
        if current is None:
            merged[operator] = value
        else:
            merged[operator] = max(current, value) if operator == "$gte" else min(current, value)
    return merged


def _active_value(active: bool | None, include_inactive: bool) -> Any:
    if not include_inactive:
        return True
    # Both values spelled out, so the (active, ...) indexes still serve the sort (a merge of two scans).
    return {"$in": [True, False]} if active is None else active


def _after(spec: SortSpec, key: Any, last_id: ObjectId) -> list[Document]:
    beyond = "$gt" if spec.direction == 1 else "$lt"
    return [{spec.field: {beyond: key}}, {spec.field: key, "_id": {beyond: last_id}}]


def sort_key(doc: Document, spec: SortSpec) -> Any:
    value: Any = doc
    for part in spec.field.split("."):
        value = value[part]
    return value


def encode_cursor(doc: Document, sort: Sort) -> str:
    key = sort_key(doc, SORTS[sort])
    return cursors.encode(
        {"s": sort, "k": key.isoformat() if isinstance(key, datetime) else key, "i": str(doc["_id"])}
    )


def decode_cursor(cursor: str, sort: Sort) -> tuple[Any, ObjectId]:
    """The position a cursor names, checked strictly: a forged or stale cursor is a 422, never a query."""
    try:
        payload = cursors.decode(cursor)
        if payload.get("s") != sort or not ObjectId.is_valid(payload.get("i")):
            raise ValueError("cursor of another listing")
        return _typed_key(sort, payload.get("k")), ObjectId(payload["i"])
    except (ValueError, TypeError):
        raise InvalidCursor(
            "The cursor is malformed or belongs to another sort; start again without it."
        ) from None


def _typed_key(sort: Sort, key: object) -> Any:
    if sort == "newest" and isinstance(key, str):
        return datetime.fromisoformat(key)
    if sort in ("price_asc", "price_desc") and isinstance(key, int) and not isinstance(key, bool):
        return key
    if sort == "name" and isinstance(key, str):
        return key
    raise ValueError("cursor key of the wrong type")
