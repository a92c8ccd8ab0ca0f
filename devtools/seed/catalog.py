"""The demo catalog itself: deterministic products from the departments, written through the
catalog service's own use cases (so the documents have exactly the shape the service writes)."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from devtools.seed.departments import DEPARTMENTS, Department
from services.catalog.categories.errors import DuplicateSlug
from services.catalog.categories.schemas import CategoryCreate
from services.catalog.categories.service import create_category
from services.catalog.collections import COLLECTIONS
from services.catalog.products.errors import DuplicateSku
from services.catalog.products.schemas import Price, ProductCreate
from services.catalog.products.service import create_product
from shared.db import Database, ensure_collections

DEFAULT_SEED = 2024
OUT_OF_STOCK_SHARE = 0.10
INACTIVE_SHARE = 0.05
MAX_STOCK = 500
MAX_IMAGES = 3
IMAGE_HOST = "https://images.example.com"
TAKA_PER_USD = 120  # only to make imported items' USD prices look plausible next to taka prices


@dataclass(frozen=True)
class DemoCatalog:
    categories: list[CategoryCreate]
    products: list[ProductCreate]


@dataclass(frozen=True)
class SeedSummary:
    categories_created: int
    categories_present: int
    products_created: int
    products_present: int
    seconds: float

    def line(self) -> str:
        return (
            f"seed: categories {self.categories_created} created, {self.categories_present} already present; "
            f"products {self.products_created} created, {self.products_present} already present "
            f"({self.seconds:.1f}s)"
        )


def demo_catalog(products: int, seed: int = DEFAULT_SEED) -> DemoCatalog:
    """The categories and the first `products` products of the demo catalog of `seed` (no I/O)."""
    categories = [CategoryCreate(slug=dept.slug, name=dept.name) for dept in DEPARTMENTS]
    return DemoCatalog(categories, list(itertools.islice(_products(seed), products)))


def _products(seed: int) -> Iterator[ProductCreate]:
    # Not for security: a seeded generator, so the same seed always gives the same catalog.
    rng = random.Random(seed)  # noqa: S311 - demo data, reproducible by design
    names = {dept.slug: _names(dept, seed) for dept in DEPARTMENTS}
    numbers = {dept.slug: itertools.count(1) for dept in DEPARTMENTS}
    weights = [dept.weight for dept in DEPARTMENTS]
    while True:
        dept = rng.choices(DEPARTMENTS, weights)[0]
        yield _product(rng, dept, next(names[dept.slug]), next(numbers[dept.slug]))


def _names(dept: Department, seed: int) -> Iterator[tuple[str, str, tuple[str, int], tuple[str, float]]]:
    """Every brand x variant x item x size of a department, shuffled, so names repeat only once exhausted."""
    combos = list(itertools.product(dept.brands, dept.variants, dept.items, dept.sizes))
    random.Random(f"{seed}:{dept.slug}").shuffle(combos)  # noqa: S311 - reproducible, not secret
    return itertools.cycle(combos)


def _product(
    rng: random.Random,
    dept: Department,
    combo: tuple[str, str, tuple[str, int], tuple[str, float]],
    number: int,
) -> ProductCreate:
    brand, variant, (item, base_taka), (size, factor) = combo
    sku = f"{dept.sku_prefix}-{number:04d}"
    return ProductCreate(
        sku=sku,
        name=" ".join(part for part in (brand, variant, item) if part) + f", {size}",
        description=" ".join([*rng.sample(dept.features, 2), f"From {brand.removesuffix('.')}."]),
        price=_price(rng, base_taka * factor * rng.uniform(0.9, 1.15), dept.usd_share),
        stock=0 if rng.random() < OUT_OF_STOCK_SHARE else rng.randint(1, MAX_STOCK),
        category=dept.slug,
        active=rng.random() >= INACTIVE_SHARE,
        images=[
            f"{IMAGE_HOST}/catalog/{dept.slug}/{sku.lower()}-{index}.jpg"
            for index in range(1, rng.randint(0, MAX_IMAGES) + 1)
        ],
    )


def _price(rng: random.Random, taka: float, usd_share: float) -> Price:
    """A shop-like price in minor units: whole taka rounded to 5/10/50 in poisha, or $x.99 in cents."""
    if rng.random() < usd_share:
        return Price(amount=max(99, round(taka / TAKA_PER_USD) * 100 - 1), currency="USD")
    step = 5 if taka < 100 else 10 if taka < 1000 else 50
    return Price(amount=max(step, round(taka / step) * step) * 100, currency="BDT")


async def seed_catalog(
    db: Database, *, products: int, seed: int = DEFAULT_SEED, concurrency: int = 1
) -> SeedSummary:
    """Add the demo catalog's categories and first `products` products that are not there yet."""
    started = time.perf_counter()
    # The unique indexes make a second run (or a concurrent one) a no-op, so they must exist first.
    await ensure_collections(db, COLLECTIONS)
    catalog = demo_catalog(products, seed)
    categories_created = 0
    for category in catalog.categories:
        try:
            await create_category(db, category)
            categories_created += 1
        except DuplicateSlug:
            pass

    pending = iter(catalog.products)
    created = 0

    async def worker() -> None:
        nonlocal created
        for product in pending:  # shared by the workers: each product is taken once
            try:
                await create_product(db, product)
                created += 1
            except DuplicateSku:
                pass

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    return SeedSummary(
        categories_created=categories_created,
        categories_present=len(catalog.categories) - categories_created,
        products_created=created,
        products_present=len(catalog.products) - created,
        seconds=time.perf_counter() - started,
    )
