"""The name and price sorts on the catalog's rank scales (services/catalog/products/ranks.py): pages
read about a page of products however the keys cluster, and walks stay exact when the fences are
stale.

Read in this process against the stack's database server, in a database of its own, with the demo
catalog's names (brand, product line, variant: long shared prefixes) and prices (round amounts)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator

import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from bench.catalog_data import page_cost, seed
from devstack.stack import Stack
from services.catalog.products import ranks
from services.catalog.products.listing import SORTS, ListingQuery
from services.catalog.products.ranks import (
    FENCE_EVERY,
    GROUP_MIN,
    CatalogRanks,
    Group,
    RankScale,
    scan_catalog,
)
from services.catalog.products.repository import SHAPES
from services.catalog.products.schemas import Sort
from services.catalog.products.windows import Learned, Segment, Start
from shared.db import Database, MongoClient

PAGE = 20
PRODUCTS = 500
GROUPED = "bulk"  # the category of the products one test adds at one price (kept out of the others')


@pytest.fixture(scope="module")
async def catalog(stack: Stack) -> AsyncIterator[Database]:
    client: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    db = client[f"test_ranks_{secrets.token_hex(4)}"]
    await seed(db, PRODUCTS)
    yield db
    if not stack.embedded:  # the embedded server's data goes with the test run (dropping took 10 s)
        await client.drop_database(db.name)
    await client.close()


@pytest.fixture
def scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Listings in this test read with whatever ranks it installs, and forget what they learned."""
    monkeypatch.setattr(ranks, "RANKS", CatalogRanks())
    monkeypatch.setattr("services.catalog.products.repository.RANKS", ranks.RANKS)
    SHAPES.clear()


async def install(db: Database) -> CatalogRanks:
    scanned = await scan_catalog(db)
    ranks.RANKS.scales = scanned.scales
    return scanned


async def walk(db: Database, category: str | None = None, sort: Sort = "name") -> tuple[list[str], list[int]]:
    """Every id of the listing, page by page, and the documents each page examined."""
    ids: list[str] = []
    examined: list[int] = []
    cursor: str | None = None
    while True:
        cost = await page_cost(db, ListingQuery(limit=PAGE, sort=sort, cursor=cursor, category=category))
        ids += [str(product["_id"]) for product in cost.page]
        examined.append(cost.examined)
        cursor = cost.next_cursor
        if cursor is None:
            return ids, examined


async def expected(db: Database, category: str | None = None, sort: Sort = "name") -> list[str]:
    """The listing's ids as the database sorts them (sort key, then `_id`, in the sort's direction)."""
    spec = SORTS[sort]
    match = {"active": True, **({"category": category} if category else {})}
    docs = await db.products.find(match, {"_id": 1}).sort(spec.mongo_sort()).to_list()
    return [str(doc["_id"]) for doc in docs]


def test_a_rank_scale_places_names_by_the_fences() -> None:
    scale = RankScale(["apple", "banana", "cherry"], every=10)
    assert [scale.position(name) for name in ("a", "apple", "apricot", "banana", "zebra")] == [
        0.0, 0.0, 10.0, 10.0, 30.0,
    ]  # fmt: skip
    assert scale.key_at(0.0) == "apple"
    assert scale.key_at(11.0) == "cherry"  # the fence at or after the position
    assert scale.key_at(21.0) is None  # past the last fence: the rest of the walk is unbounded


def test_a_walk_meets_the_groups_between_its_start_and_its_end_in_its_order() -> None:
    groups = [Group(price, GROUP_MIN, ObjectId(), ObjectId()) for price in (100, 200, 300)]
    scale = RankScale([100, 200, 300], groups=groups)

    def met(start: Start | None, end: Start | None, direction: int) -> list[int]:
        return [group.key for group in scale.groups_beyond(start, end, direction)]

    assert met(None, None, 1) == [100, 200, 300]
    assert met(None, None, -1) == [300, 200, 100]
    assert met(Start(100, inclusive=False), None, 1) == [200, 300]
    assert met(Start(100, inclusive=True), Start(300, inclusive=False), 1) == [100, 200]
    assert met(Start(300, inclusive=False), Start(100, inclusive=True), -1) == [200, 100]
    assert met(Start(250, inclusive=True), Start(150, inclusive=False), -1) == [200]
    assert scale.group(200) == groups[1]
    assert scale.group(250) is None


def test_a_window_from_a_key_many_fences_hold_goes_its_width_past_them() -> None:
    # 150 products at 200 (fences 1-15), then a fence every 100: a window of 30 products from 200
    # ends three fences past the run (doubling its width from 200 ran off the end: one read of all).
    scale = RankScale([100] + [200] * 15 + list(range(300, 1000, 100)))
    segment = Segment("price.amount", scale, 1, Learned(), need=20)
    segment.start, segment.first_width = Start(200, inclusive=False), 30.0
    window = segment.next_window()
    assert window is not None
    assert window.bounds == {"$gt": 200, "$lt": 600}
    assert not window.final


async def test_name_pages_read_about_a_page_on_the_rank_scale(catalog: Database, scanned: None) -> None:
    scale = (await install(catalog)).scale_for("name_key", {"active": True})
    assert scale is not None
    ids, examined = await walk(catalog)
    assert ids == await expected(catalog)
    assert len(scale.fences) == -(-len(ids) // FENCE_EVERY)  # every tenth active name
    # Each page's windows hold about a page (AIM times what is still needed, to within a fence);
    # the first page of the walk learns the density, so it may read more. (The text scale read up
    # to 118 on a later page of this catalog.)
    assert max(examined[1:]) <= 3 * (PAGE + 1), examined


@pytest.mark.parametrize("sort", ["price_asc", "price_desc"])
async def test_price_pages_read_about_a_page_on_the_rank_scale(
    catalog: Database, scanned: None, sort: Sort
) -> None:
    scale = (await install(catalog)).scale_for("price.amount", {"active": True})
    assert scale is not None
    ids, examined = await walk(catalog, sort=sort)
    assert ids == await expected(catalog, sort=sort)
    # Prices gather at round amounts, and a window cannot split products of one price: prices held by
    # GROUP_MIN products or more are read in windows of `_id`, so a page reads about a page plus a
    # price held by fewer (330 on the logarithmic scale, at this size).
    assert max(examined[1:]) <= 4 * (PAGE + 1), examined


async def test_a_price_many_products_share_is_read_in_windows_of_id(catalog: Database, scanned: None) -> None:
    template = await catalog.products.find_one({"active": True})
    assert template is not None
    price = {**template["price"], "amount": 77_700}
    # Added over a year, as a shop adds products (ids made in one second cannot be told apart by a
    # window of `_id`: the scale reads them as floating-point numbers).
    added = [int(time.time()) - day * 86_400 for day in range(150)]
    group = [
        {**template, "_id": _id_at(second), "price": price, "sku": f"GROUP-{n}", "category": GROUPED}
        for n, second in enumerate(added)
    ]
    await catalog.products.insert_many(group)
    scale = (await install(catalog)).scale_for("price.amount", {"active": True})
    assert scale is not None
    assert (counted := scale.group(77_700)) is not None
    assert counted.count >= 150
    for sort in ("price_asc", "price_desc"):
        ids, examined = await walk(catalog, sort=sort)
        assert ids == await expected(catalog, sort=sort)
        # A window of prices would read the whole group for the page that meets it (150 or more).
        assert max(examined[1:]) <= 4 * (PAGE + 1), (sort, examined)


def _id_at(second: int) -> ObjectId:
    return ObjectId(second.to_bytes(4, "big") + secrets.token_bytes(8))


async def test_stale_fences_cost_speed_never_an_item(catalog: Database, scanned: None) -> None:
    await install(catalog)
    names = sorted(await catalog.products.distinct("name_key", {"active": True}))
    template = await catalog.products.find_one({"active": True, "category": {"$ne": GROUPED}})
    assert template is not None
    # Products the fences never saw: inside one cluster of names, and past the last fence.
    middle = names[len(names) // 2]
    stale = [f"{middle} extra {n:03d}" for n in range(60)] + [f"zzz late {n}" for n in range(5)]
    added = [
        {**template, "_id": ObjectId(), "name_key": name, "sku": f"STALE-{n}"} for n, name in enumerate(stale)
    ]
    await catalog.products.insert_many(added)
    for sort in ("name", "price_asc"):
        ids, _ = await walk(catalog, sort=sort)
        assert ids == await expected(catalog, sort=sort)
        assert {str(product["_id"]) for product in added} <= set(ids)


async def test_small_catalogs_and_categories_keep_the_text_scale(catalog: Database, scanned: None) -> None:
    scanned_ranks = await install(catalog)
    # About a hundred products per category here: too few to need fences.
    assert {category for _, category in scanned_ranks.scales} == {None}
    assert scanned_ranks.scale_for("name_key", {"active": True, "category": "snacks"}) is None
    ids, _ = await walk(catalog, "snacks")
    assert ids == await expected(catalog, "snacks")
