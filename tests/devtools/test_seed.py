"""The demo catalog: deterministic, shop-like, idempotent, and served by the API like any other product."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devtools.seed import SeedSummary, demo_catalog, seed_catalog
from services.catalog.products.schemas import ProductCreate
from services.catalog.products.search import tokens
from services.catalog.products.service import derived_fields
from shared.db import Database

SEEDED = 40
SEED = 7


def share(products: list[ProductCreate], predicate: Callable[[ProductCreate], bool]) -> float:
    return sum(1 for product in products if predicate(product)) / len(products)


def test_the_same_seed_gives_the_same_catalog_and_more_products_only_append() -> None:
    assert demo_catalog(SEEDED, SEED) == demo_catalog(SEEDED, SEED)
    assert demo_catalog(SEEDED * 2, SEED).products[:SEEDED] == demo_catalog(SEEDED, SEED).products
    assert demo_catalog(SEEDED, SEED + 1).products != demo_catalog(SEEDED, SEED).products


def test_the_demo_catalog_looks_like_a_shop() -> None:
    catalog = demo_catalog(2000, SEED)
    products = catalog.products
    assert 8 <= len(catalog.categories) <= 12
    assert {product.category for product in products} == {category.slug for category in catalog.categories}
    assert len({product.sku for product in products}) == len(products)
    assert all(re.fullmatch(r"[A-Z]{3}-\d{4}", product.sku) for product in products)
    assert all(product.price.amount > 0 for product in products)
    assert {product.price.currency for product in products} == {"BDT", "USD"}
    assert 0 < share(products, lambda product: product.price.currency == "USD") < 0.1
    assert 0.07 < share(products, lambda product: product.stock == 0) < 0.13
    assert 0.03 < share(products, lambda product: not product.active) < 0.07
    assert all(0 <= product.stock <= 500 and len(product.images) <= 3 for product in products)
    assert all(
        str(url).startswith("https://images.example.com/") for product in products for url in product.images
    )


@pytest.fixture(scope="module")
async def seeded(db: Database) -> tuple[int, SeedSummary, SeedSummary]:
    """Seed the stack's database twice; how many of the SKUs were there before, and both summaries."""
    skus = [product.sku for product in demo_catalog(SEEDED, SEED).products]
    before = await db.products.count_documents({"sku": {"$in": skus}})
    first = await seed_catalog(db, products=SEEDED, seed=SEED)
    second = await seed_catalog(db, products=SEEDED, seed=SEED)
    return before, first, second


async def test_a_second_run_adds_nothing(seeded: tuple[int, SeedSummary, SeedSummary], db: Database) -> None:
    before, first, second = seeded
    categories = len(demo_catalog(0, SEED).categories)
    assert (first.products_created, first.products_present) == (SEEDED - before, before)
    assert first.categories_created + first.categories_present == categories
    assert (second.products_created, second.products_present) == (0, SEEDED)
    assert (second.categories_created, second.categories_present) == (0, categories)
    skus = [product.sku for product in demo_catalog(SEEDED, SEED).products]
    assert await db.products.count_documents({"sku": {"$in": skus}}) == SEEDED


async def test_documents_have_the_shape_the_service_writes(
    seeded: tuple[int, SeedSummary, SeedSummary], db: Database
) -> None:
    for product in demo_catalog(SEEDED, SEED).products:
        doc = await db.products.find_one({"sku": product.sku})
        assert doc is not None
        expected = derived_fields(product.name, product.description, product.sku, product.category)
        assert (doc["name_key"], doc["search_terms"]) == (expected["name_key"], expected["search_terms"])
        assert doc["version"] == 1
        assert doc["created_at"] == doc["updated_at"]


async def listing(gateway: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    """Every item of an anonymous listing, page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        response = await gateway.get(f"/api/v1/products?{query}&limit=100{suffix}")
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_shoppers_see_the_active_products_as_seeded(
    seeded: tuple[int, SeedSummary, SeedSummary], gateway: httpx.AsyncClient
) -> None:
    listed = {item["sku"]: item for item in await listing(gateway, "sort=newest")}
    for product in demo_catalog(SEEDED, SEED).products:
        if not product.active:
            assert product.sku not in listed
            continue
        item = listed[product.sku]
        assert {
            "id", "sku", "name", "description", "price", "stock", "category", "active", "images",
            "created_at", "updated_at", "version",
        } <= set(item)  # fmt: skip
        assert item["name"] == product.name
        assert item["description"] == product.description
        assert item["price"] == product.price.model_dump()
        assert (item["stock"], item["category"], item["active"]) == (product.stock, product.category, True)
        assert item["images"] == [str(url) for url in product.images]


async def test_a_word_of_a_seeded_name_finds_it(
    seeded: tuple[int, SeedSummary, SeedSummary], gateway: httpx.AsyncClient
) -> None:
    product = next(product for product in demo_catalog(SEEDED, SEED).products if product.active)
    word = max(tokens(product.name), key=len)
    for query in (word, word[:4]):  # a whole word, and the prefix a shopper is still typing
        found = await listing(gateway, f"q={query}")
        assert product.sku in {item["sku"] for item in found}
        for item in found:
            words = tokens(" ".join([item["name"], item["description"], item["sku"], item["category"] or ""]))
            assert any(token.startswith(query) for token in words)
