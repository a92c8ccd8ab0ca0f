"""Every MongoDB query on products and their stock-adjustment history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.cursor import AsyncCursor

from services.catalog.products.listing import ListingFilter, ListingPlan, SortSpec, sort_key
from services.catalog.products.ranks import RANK_WIDEN, RANKS, Group, RankScale
from services.catalog.products.search import WITHOUT_PREFIX_ENTRIES
from services.catalog.products.windows import (
    AIM,
    ID_SCALE,
    WIDEN,
    Learned,
    Segment,
    ShapeMemory,
    Start,
    beyond,
)
from shared.clock import utcnow
from shared.db import Database, Document
from shared.money import MAX_AMOUNT


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
    """The first `limit` products of a listing in `sort` order; a listing filter is read in windows."""
    if isinstance(query, ListingFilter):
        return await read_listing(db, query.plan, limit)
    return await db.products.find(query).sort(sort).limit(limit).to_list()


# Densities of the listing shapes this process has served (windows.py): the next page of a shape
# starts with a window sized from them.
SHAPES = ShapeMemory()
# Empty `_id` windows in a row before the rest of a sort key's ties is read at once.
TIE_MAX_EMPTY = 3


async def read_listing(
    db: Database, plan: ListingPlan, limit: int, queries: list[Document] | None = None
) -> list[Document]:
    """The first `limit` products of a listing, read in windows; `queries` (if given) collects every
    query sent, for benchmarks and explain."""
    if plan.matches_nothing:
        return []
    found: list[Document] = []
    for equality in plan.equalities:
        found += await _walk(db, plan, equality, limit, queries)
    if len(plan.equalities) > 1:  # several walks, merged in the listing's order
        spec = plan.spec
        found.sort(key=lambda doc: (sort_key(doc, spec), doc["_id"]), reverse=spec.direction == -1)
    return found[:limit]


async def _walk(
    db: Database, plan: ListingPlan, equality: Document, need: int, queries: list[Document] | None
) -> list[Document]:
    spec = plan.spec
    # Names and prices are walked on the catalog's rank scales once one was scanned (ranks.py).
    ranked = RANKS.scale_for(spec.field, equality)
    found: list[Document] = []
    start = plan.start
    if plan.after is not None:
        found += await _read_ties(db, plan, equality, ranked, plan.after, need, queries)
        start = Start(plan.after[0], inclusive=False)
    # A key many products share (a group) cannot be split by a window of the key: the walk stops
    # before it, reads it in windows of `_id`, and goes on after it.
    for group in ranked.groups_beyond(start, plan.end, spec.direction) if ranked is not None else ():
        if len(found) >= need:
            break
        stretch = (start, Start(group.key, inclusive=False))
        found += await _walk_keys(db, plan, equality, ranked, stretch, need - len(found), queries)
        if len(found) >= need:
            break
        found += await _read_group(db, plan, equality, group, need - len(found), queries)
        start = Start(group.key, inclusive=False)
    if len(found) < need:
        found += await _walk_keys(db, plan, equality, ranked, (start, plan.end), need - len(found), queries)
    return found


async def _read_ties(
    db: Database,
    plan: ListingPlan,
    equality: Document,
    ranked: RankScale | None,
    after: tuple[Any, ObjectId],
    need: int,
    queries: list[Document] | None,
) -> list[Document]:
    """The rest of the cursor's own sort key, after its `_id`, in windows of `_id`.

    On a rank scale the scan says which keys many products share: such a key is read in windows
    sized from its group's span, any other in one read (fewer than a group). Without one, in one
    read until a read showed more than a page of ties; from then on in windows of what it showed.
    """
    spec, (key, last_id) = plan.spec, after
    learned = Learned() if ranked is not None else SHAPES.get((*plan.shape(equality), "ties"))
    ties = Segment("_id", ID_SCALE, spec.direction, learned, need, max_empty=TIE_MAX_EMPTY)
    ties.start = Start(last_id, inclusive=False)
    if ranked is not None and (group := ranked.group(key)) is not None:
        ties.first_width, ties.last = group.id_width(need), group.last_in(spec.direction)
    found = await _read(db, plan, {**equality, spec.field: key}, ties, queries)
    if not found:
        learned.density = None
    return found


async def _walk_keys(
    db: Database,
    plan: ListingPlan,
    equality: Document,
    ranked: RankScale | None,
    stretch: tuple[Start | None, Start | None],
    need: int,
    queries: list[Document] | None,
) -> list[Document]:
    """The listing over a stretch (from its start to its end) in windows of its sort key, sized from
    what its shape showed: on the catalog's rank scale where there is one."""
    spec, shape, (start, end) = plan.spec, plan.shape(equality), stretch
    # What a shape learned on one scale means nothing on the other, so each has its own memory.
    scale, first_width, widen, on = spec.scale, spec.first_width, WIDEN, ""
    if ranked is not None:
        scale, first_width, widen, on = ranked, AIM * need, RANK_WIDEN, "ranked"
    learned, sort_wide = SHAPES.get((*shape, on)), SHAPES.get((plan.sort, on))
    keys = Segment(spec.field, scale, spec.direction, learned, need, widen=widen)
    keys.start, keys.end, keys.first_width = start, end, first_width
    # A shape never read starts from what any shape of its sort showed: the densest windows (the
    # narrowest), and the most extreme first key (the first window is open beyond it).
    if learned.density is None:
        learned.density = sort_wide.density
    keys.origin = learned.origin if learned.origin is not None else sort_wide.origin
    if keys.origin is None:
        keys.origin = _origin(spec)
    walked = await _read(db, plan, equality, keys, queries)
    if walked and start is None:
        learned.origin = sort_key(walked[0], spec)
        if sort_wide.origin is None or beyond(learned.origin, sort_wide.origin, -spec.direction):
            sort_wide.origin = learned.origin
    if learned.density is not None and (sort_wide.density or 0.0) < learned.density:
        sort_wide.density = learned.density
    return walked


async def _read_group(
    db: Database,
    plan: ListingPlan,
    equality: Document,
    group: Group,
    need: int,
    queries: list[Document] | None,
) -> list[Document]:
    """The products of one group in the listing's order, in windows of `_id` sized from its span, the
    first one open towards the side its newest (or oldest) products may have been added since."""
    direction = plan.spec.direction
    ids = Segment("_id", ID_SCALE, direction, Learned(), need, max_empty=TIE_MAX_EMPTY)
    ids.origin, ids.last = group.last_in(-direction), group.last_in(direction)
    ids.first_width = group.id_width(need)
    return await _read(db, plan, {**equality, plan.spec.field: group.key}, ids, queries)


def _origin(spec: SortSpec) -> Any:
    """Where a walk of a sort never read before begins: now for dates, the scale's ends otherwise."""
    if spec.field == "created_at":
        return utcnow()
    if spec.field == "name_key":
        return ""
    return 0 if spec.direction == 1 else MAX_AMOUNT


async def _read(
    db: Database, plan: ListingPlan, equality: Document, segment: Segment, queries: list[Document] | None
) -> list[Document]:
    found: list[Document] = []
    while (window := segment.next_window()) is not None:
        asked = segment.need - segment.found
        # A final window open at both ends (a walk whose guess ran past the scale) bounds nothing.
        bounds = _upper_exclusive(window.bounds)
        match = {**equality, segment.path: bounds} if bounds else dict(equality)
        pipeline: list[Document] = [{"$match": match}]
        if plan.residual:
            # A stage of its own: the embedded server plans only the first $match, and needs it to
            # be the equalities and one range; MongoDB merges the two.
            pipeline.append({"$match": plan.residual})
        pipeline += [{"$sort": dict(plan.spec.mongo_sort())}, {"$limit": asked}]
        if queries is not None:
            queries.append({"pipeline": pipeline})
        docs = await (await db.products.aggregate(pipeline)).to_list()
        segment.record(window, docs, asked)
        found += docs
    segment.finish()
    return found


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


def products_without_prefix_entries(db: Database, batch_size: int) -> AsyncCursor[Document]:
    """Products whose search terms carry no prefix entry (search.py), with what a migration needs of
    them: one pass over the collection in the server's order. (A walk in `_id` order, one range per
    batch, costs the embedded server every remaining product per batch: quadratic.)"""
    fields = {"name": 1, "description": 1, "sku": 1, "category": 1, "search_terms": 1, "version": 1}
    return db.products.find({"search_terms": WITHOUT_PREFIX_ENTRIES}, fields, batch_size=batch_size)


async def set_search_terms(db: Database, product_id: ObjectId, version: int, terms: list[str]) -> bool:
    """Store recomputed search terms unless the product changed since `version` was read.

    The version stays: what the API shows of the product is unchanged.
    """
    result = await db.products.update_one(
        {"_id": product_id, "version": version}, {"$set": {"search_terms": terms}}
    )
    return result.modified_count == 1


def _upper_exclusive(bounds: Document) -> Document:
    """An inclusive upper bound (`$lte v`) as an exclusive one of the next value (`$lt v + 1`, or the
    string after `v`): the same range, which the embedded server reads whole, where its compound
    index ranges drop the keys equal to an inclusive upper bound on an ascending field followed by
    others (`price.amount $lte 110000` missed every product at 110000; tests/catalog/products/
    test_listing.py). Prices are integers and names strings, so the next value is exact."""
    value = bounds.get("$lte")
    if isinstance(value, bool) or not isinstance(value, int | str):
        return bounds
    following = value + 1 if isinstance(value, int) else value + "\x00"
    return {**{op: bound for op, bound in bounds.items() if op != "$lte"}, "$lt": following}
