"""Product listings: filters, the allowed sorts, opaque keyset cursors, and how a page is read.

A cursor holds the sort key and `_id` of the last item served; the next page starts strictly
after it in (sort key, `_id`) order. Inserts and removals elsewhere therefore never make a walk
skip or repeat an item that existed throughout it.

A page is read in keyset windows (windows.py) over the index that serves the listing
(docs/catalog-indexes.md): the **equality** part (`active`, `category`, a search word) selects the
index, the sort key is walked in ranges, and the **residual** conditions (`in_stock`, `currency`, a
price range under another sort, every word of a search) are checked on the documents each window
returns. So a page costs about a page of documents on MongoDB and on the embedded server alike,
however large the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from services.catalog.products.errors import InvalidCursor
from services.catalog.products.schemas import Sort
from services.catalog.products.search import search_plan
from services.catalog.products.windows import AmountScale, Scale, Start, TextScale, TimeScale
from shared import cursors
from shared.db import Document
from shared.money import MAX_AMOUNT


@dataclass(frozen=True)
class SortSpec:
    field: str
    direction: int  # 1 ascending, -1 descending; `_id` breaks ties in the same direction
    scale: Scale
    first_width: float  # of the first window of a shape never read before (then widened as needed)

    def mongo_sort(self) -> list[tuple[str, int]]:
        return [(self.field, self.direction), ("_id", self.direction)]


_AMOUNTS = AmountScale(MAX_AMOUNT)
SORTS: dict[str, SortSpec] = {
    "newest": SortSpec("created_at", -1, TimeScale(), first_width=1.0),
    "price_asc": SortSpec("price.amount", 1, _AMOUNTS, first_width=0.05),
    "price_desc": SortSpec("price.amount", -1, _AMOUNTS, first_width=0.05),
    "name": SortSpec("name_key", 1, TextScale(), first_width=len(TextScale.ALPHABET) ** -2.0),
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


@dataclass(frozen=True)
class ListingPlan:
    """How a listing is read: per equality alternative, windows of the sort key, then the residual."""

    sort: Sort
    spec: SortSpec
    equalities: list[Document]  # one index prefix each (admins' "any active" is two)
    residual: Document  # checked on what the windows return ({} for none)
    after: tuple[Any, ObjectId] | None  # the cursor's position
    start: Start | None  # where a walk without a cursor begins (a price range's near end)
    end: Start | None  # where every walk stops (a price range's far end)
    matches_nothing: bool = False

    def shape(self, equality: Document) -> tuple[Any, ...]:
        """What the windows of one equality alternative are remembered by (windows.ShapeMemory)."""
        return (self.sort, *sorted(equality.items(), key=lambda item: item[0]))


class ListingFilter(dict[str, Any]):
    """The MongoDB filter of a listing, as one document any query could use, and its `plan`."""

    def __init__(self, query_filter: Document, plan: ListingPlan) -> None:
        super().__init__(query_filter)
        self.plan = plan


def listing_filter(query: ListingQuery, *, include_inactive: bool) -> ListingFilter:
    """The listing's filter and plan; non-admins only ever see active products."""
    spec = SORTS[query.sort]
    equality: Document = {"active": _active_value(query.active, include_inactive)}
    if query.category:
        equality["category"] = query.category
    residual: Document = {}
    matches_nothing = False
    if query.q is not None:
        plan = search_plan(query.q)
        if plan is None:  # no searchable word (only punctuation, say): nothing rather than everything
            matches_nothing = True
        else:
            equality["search_terms"] = plan.key
            residual.update(plan.condition)
    if query.in_stock is not None:
        residual["stock"] = {"$gt": 0} if query.in_stock else 0
    if query.currency:
        residual["price.currency"] = query.currency
    price = _price_range(query)
    if price:
        residual["price.amount"] = price
    after = decode_cursor(query.cursor, query.sort) if query.cursor else None
    start, end = _walk_limits(spec, query) if spec.field == "price.amount" else (None, None)
    listing = ListingPlan(
        query.sort, spec, _alternatives(equality), residual, after, start, end, matches_nothing
    )
    return ListingFilter(_as_one_filter(listing, equality), listing)


def _price_range(query: ListingQuery) -> Document:
    price: Document = {}
    if query.min_price is not None:
        price["$gte"] = query.min_price
    if query.max_price is not None:
        price["$lte"] = query.max_price
    return price


def _walk_limits(spec: SortSpec, query: ListingQuery) -> tuple[Start | None, Start | None]:
    """A price range under a price sort bounds the walk itself: it starts at one end, stops at the other."""
    low = Start(query.min_price, inclusive=True) if query.min_price is not None else None
    high = Start(query.max_price, inclusive=True) if query.max_price is not None else None
    return (low, high) if spec.direction == 1 else (high, low)


def _alternatives(equality: Document) -> list[Document]:
    """One equality document per index prefix: `active: {$in: [...]}` becomes one walk per value."""
    active = equality["active"]
    if isinstance(active, dict):
        return [{**equality, "active": value} for value in active["$in"]]
    return [equality]


def _as_one_filter(listing: ListingPlan, equality: Document) -> Document:
    """Every condition of the listing in one filter (what the windows, together, return)."""
    if listing.matches_nothing:
        return {**equality, "search_terms": {"$in": []}}
    clauses = [equality, listing.residual]
    if listing.after is not None:
        key, last_id = listing.after
        clauses.append({"$or": _after(listing.spec, key, last_id)})
    return {"$and": [clause for clause in clauses if clause]}


def _active_value(active: bool | None, include_inactive: bool) -> Any:
    if not include_inactive:
        return True
    # Both values spelled out, so the (active, ...) indexes still serve the sort (one walk per value).
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
        moment = datetime.fromisoformat(key)
        # Stored dates are UTC; a cursor without an offset means UTC too (and compares with them).
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if sort in ("price_asc", "price_desc") and isinstance(key, int) and not isinstance(key, bool):
        if not 0 <= key <= MAX_AMOUNT:
            raise ValueError("cursor price out of range")
        return key
    if sort == "name" and isinstance(key, str):
        return key
    raise ValueError("cursor key of the wrong type")
