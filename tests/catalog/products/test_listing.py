"""Listings: filters, sorts, search, cursors that walk exactly once, and conditional GETs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.builders import make_category, make_product


async def walk(gateway: httpx.AsyncClient, query: str, limit: int, during: Any = None) -> list[str]:
    """Every id of a listing, page by page; `during` is awaited between pages (to change the data)."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        page = (await gateway.get(f"/api/v1/products?{query}&limit={limit}{suffix}")).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return ids
        if during is not None:
            await during()


async def test_sorts(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    category = await make_category(gateway, admin)
    made = [
        await make_product(
            gateway, admin, category=category, name=name, price={"amount": amount, "currency": "BDT"}
        )
        for name, amount in [("Banana chips", 300), ("apple juice", 900), ("Cherry jam", 100)]
    ]
    by_id = {product["id"]: product["name"] for product in made}

    async def names(sort: str) -> list[str]:
        items = (await gateway.get(f"/api/v1/products?category={category}&sort={sort}")).json()["items"]
        return [by_id[item["id"]] for item in items]

    assert await names("newest") == ["Cherry jam", "apple juice", "Banana chips"]
    assert await names("price_asc") == ["Cherry jam", "Banana chips", "apple juice"]
    assert await names("price_desc") == ["apple juice", "Banana chips", "Cherry jam"]
    assert await names("name") == ["apple juice", "Banana chips", "Cherry jam"]


async def test_filters(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    category = await make_category(gateway, admin)
    cheap_empty = await make_product(
        gateway, admin, category=category, stock=0, price={"amount": 100, "currency": "BDT"}
    )
    mid = await make_product(
        gateway, admin, category=category, stock=5, price={"amount": 500, "currency": "BDT"}
    )
    dollars = await make_product(
        gateway, admin, category=category, stock=5, price={"amount": 700, "currency": "USD"}
    )

    async def ids(extra: str) -> set[str]:
        items = (await gateway.get(f"/api/v1/products?category={category}&{extra}")).json()["items"]
        return {item["id"] for item in items}

    assert await ids("in_stock=true") == {mid["id"], dollars["id"]}
    assert await ids("in_stock=false") == {cheap_empty["id"]}
    assert await ids("min_price=200&max_price=600") == {mid["id"]}
    assert await ids("currency=USD") == {dollars["id"]}
    assert await ids("min_price=200&currency=BDT") == {mid["id"]}


@pytest.mark.parametrize("sort", ["price_asc", "price_desc", "newest", "name"])
async def test_a_price_range_includes_both_of_its_ends(
    gateway: httpx.AsyncClient, admin: dict[str, str], sort: str
) -> None:
    """Under a price sort the range bounds the index walk itself; the embedded server's index ranges
    once dropped the products priced exactly at an inclusive upper bound."""
    category = await make_category(gateway, admin)
    made: dict[int, list[str]] = {300: [], 500: [], 700: []}
    for amount, same_price in made.items():
        for _ in range(2):
            price = {"amount": amount, "currency": "BDT"}
            same_price.append((await make_product(gateway, admin, category=category, price=price))["id"])

    async def ids(extra: str) -> set[str]:
        page = await gateway.get(f"/api/v1/products?category={category}&sort={sort}&{extra}")
        assert page.status_code == 200, page.text
        return {item["id"] for item in page.json()["items"]}

    assert await ids("min_price=500&max_price=500") == set(made[500])
    assert await ids("min_price=300&max_price=500") == {*made[300], *made[500]}
    assert await ids("max_price=700") == {*made[300], *made[500], *made[700]}
    assert await ids("min_price=700") == set(made[700])


async def test_search_matches_words_prefixes_and_folds_accents(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = await make_category(gateway, admin)
    tea = await make_product(
        gateway, admin, category=category, name="Darjeeling Tea", description="First-flush, from Café Estates"
    )
    await make_product(gateway, admin, category=category, name="Masala chai")

    async def found(q: str) -> list[str]:
        response = await gateway.get("/api/v1/products", params={"category": category, "q": q})
        return [item["id"] for item in response.json()["items"]]

    assert await found("darjeeling") == [tea["id"]]
    assert await found("DARJ") == [tea["id"]]  # the last word is a prefix
    assert await found("cafe") == [tea["id"]]  # accents folded
    assert await found("tea first-fl") == [tea["id"]]
    assert await found("tea chai") == []  # every word must match
    assert await found(tea["sku"]) == [tea["id"]]


async def test_a_walk_sees_every_item_exactly_once_while_products_are_added(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = await make_category(gateway, admin)
    original = {(await make_product(gateway, admin, category=category))["id"] for _ in range(23)}
    added: set[str] = set()

    async def add_two() -> None:
        batch = await asyncio.gather(*(make_product(gateway, admin, category=category) for _ in range(2)))
        added.update(product["id"] for product in batch)

    for sort in ("newest", "price_asc", "name"):
        seen = await walk(gateway, f"category={category}&sort={sort}", limit=4, during=add_two)
        assert len(seen) == len(set(seen)), f"{sort}: an item was served twice"
        assert original <= set(seen), f"{sort}: an item was skipped"
        assert set(seen) <= original | added


async def test_equal_sort_keys_are_split_by_id_without_loss(
    gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    category = await make_category(gateway, admin)
    same = {"amount": 500, "currency": "BDT"}
    made = {
        (await make_product(gateway, admin, category=category, price=same, name="Same"))["id"]
        for _ in range(9)
    }
    for sort in ("price_asc", "price_desc", "name"):
        seen = await walk(gateway, f"category={category}&sort={sort}", limit=2)
        assert sorted(seen) == sorted(made)


async def test_etag_and_if_none_match(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    product = await make_product(gateway, admin)
    path = f"/api/v1/products/{product['id']}"
    first = await gateway.get(path)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"

    unchanged = await gateway.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag

    await gateway.patch(path, json={"name": "Renamed"}, headers=admin)
    changed = await gateway.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["version"] == 2


async def test_listing_etag(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    category = await make_category(gateway, admin)
    await make_product(gateway, admin, category=category)
    path = f"/api/v1/products?category={category}"
    etag = (await gateway.get(path)).headers["etag"]
    assert (await gateway.get(path, headers={"If-None-Match": f'W/{etag}, "other"'})).status_code == 304
    await make_product(gateway, admin, category=category)
    assert (await gateway.get(path, headers={"If-None-Match": etag})).status_code == 200


async def test_lookup_by_sku(gateway: httpx.AsyncClient, admin: dict[str, str]) -> None:
    product = await make_product(gateway, admin)
    found = await gateway.get(f"/api/v1/products/sku/{product['sku']}")
    assert found.json()["id"] == product["id"]
    assert (await gateway.get("/api/v1/products/sku/NO-SUCH-SKU")).status_code == 404
