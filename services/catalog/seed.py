"""A realistic demo catalog for the SPA team and for benchmarks: `python -m services.catalog.seed`.

Deterministic: the same `--seed` always gives the same categories and products, and product *i* is
the same whatever `--products` says, so a larger run only adds to a smaller one. Idempotent: a
category or product whose slug or SKU already exists is left alone; the unique indexes decide, so
two seeders running at once cannot duplicate anything. Everything is written through the catalog's
own use cases, so the documents have exactly the shape the service writes (`name_key`,
`search_terms`, `version`, timestamps).

For development and benchmarks only: it refuses to run with ENV=production.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from services.catalog.categories.errors import DuplicateSlug
from services.catalog.categories.schemas import CategoryCreate
from services.catalog.categories.service import create_category
from services.catalog.collections import COLLECTIONS
from services.catalog.products.errors import DuplicateSku
from services.catalog.products.schemas import ProductCreate
from services.catalog.products.service import create_product
from services.catalog.settings import CatalogSettings
from shared.db import Database, MongoClient, ensure_collections
from shared.logging import configure_logging
from shared.money import Money
from shared.settings import SettingsError, load_settings

DEFAULT_PRODUCTS = 300
DEFAULT_SEED = 2024
OUT_OF_STOCK_SHARE = 0.10
INACTIVE_SHARE = 0.05
MAX_STOCK = 500
MAX_IMAGES = 3
IMAGE_HOST = "https://images.example.com"
TAKA_PER_USD = 120  # only to make imported items' USD prices look plausible next to taka prices
CONNECT_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Department:
    """One category and the word lists its products are composed from: brand x variant x item x size."""

    slug: str
    name: str
    sku_prefix: str
    weight: int  # relative share of the products
    brands: tuple[str, ...]
    items: tuple[tuple[str, int], ...]  # (what it is, price in taka of the reference size)
    variants: tuple[str, ...]  # "" for none
    sizes: tuple[tuple[str, float], ...]  # (label, price factor)
    features: tuple[str, ...]
    usd_share: float = 0.0  # imported items priced in USD


DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "tea", "Tea", "TEA", 8,
        ("Sylhet Valley", "Halda Garden", "Sreemangal Estates", "Teesta Leaf", "Padma Leaf", "Chaa Ghor"),
        (("Black Tea", 220), ("Green Tea", 320), ("Masala Chai", 280), ("Earl Grey", 380),
         ("Tulsi Green Tea", 350), ("Lemongrass Tea", 300), ("Orthodox Leaf Tea", 450), ("Tea Bags", 180)),
        ("Premium", "Classic", "Gold Label", "Organic", "Estate", "Breakfast", ""),
        (("50 g", 0.55), ("100 g", 1.0), ("200 g", 1.85), ("400 g", 3.5), ("500 g", 4.3)),
        ("Hand-picked from gardens around Sreemangal and Moulvibazar.",
         "Brews a bright, brisk cup with a malty finish.",
         "Packed in a resealable foil pouch to keep the leaves fresh.",
         "Steep for three to four minutes in freshly boiled water.",
         "Lovely with milk and a little sugar, or on its own.",
         "Sourced from smallholder growers at fair prices."),
    ),
    Department(
        "coffee", "Coffee", "COF", 6,
        ("Bean Republic", "Dhaka Roasters", "Karnaphuli Coffee Co.", "Morning Ritual", "Hill Tract Roastery",
         "Kopi House"),
        (("Ground Coffee", 650), ("Whole Bean Coffee", 750), ("Instant Coffee", 480),
         ("Cold Brew Blend", 700), ("Espresso Roast", 800), ("Decaf Coffee", 780), ("Coffee Pods", 900)),
        ("Arabica", "Robusta Blend", "Dark Roast", "Medium Roast", "Single Origin", "House Blend"),
        (("100 g", 0.5), ("200 g", 1.0), ("250 g", 1.2), ("500 g", 2.3), ("1 kg", 4.4)),
        ("Roasted in small batches and packed within a week.",
         "Notes of dark chocolate, caramel and toasted nuts.",
         "A one-way valve bag keeps the aroma in and the air out.",
         "Works in a French press, moka pot or pour-over.",
         "Grown in the hills of Bandarban and blended with imported beans."),
        usd_share=0.1,
    ),
    Department(
        "spices", "Spices & Masala", "SPC", 10,
        ("Ranna Ghor", "Moshla Bazar", "Bengal Spice Co.", "Deshi Swad", "Tejpata", "Shorshe Mills"),
        (("Turmeric Powder", 90), ("Chili Powder", 110), ("Cumin Seeds", 180), ("Coriander Powder", 80),
         ("Garam Masala", 160), ("Panch Phoron", 120), ("Black Pepper", 260), ("Green Cardamom", 550),
         ("Biryani Masala", 140), ("Meat Curry Masala", 130)),
        ("", "Pure", "Stone-ground", "Organic", "Premium", "Home-style"),
        (("50 g", 0.5), ("100 g", 1.0), ("200 g", 1.9), ("500 g", 4.5), ("1 kg", 8.5)),
        ("Sun-dried and ground without colours or fillers.",
         "The everyday spice of a Bengali kitchen.",
         "Freshly milled for a deep colour and aroma.",
         "Keep the pack closed and away from moisture.",
         "Tested for purity in an accredited laboratory."),
    ),
    Department(
        "rice-and-grains", "Rice & Grains", "RIC", 10,
        ("Chashi Farms", "Nobanno", "Sonali Khet", "Barind Harvest", "Meghna Mills", "Dinajpur Select"),
        (("Miniket Rice", 78), ("Chinigura Aromatic Rice", 150), ("Basmati Rice", 220),
         ("Nazirshail Rice", 85), ("Red Lentils (Masoor Dal)", 120), ("Mung Dal", 150), ("Chickpeas", 110),
         ("Whole Wheat Atta", 65), ("Flattened Rice (Chira)", 90)),
        ("", "Premium", "Polished", "Organic", "Export Quality", "Aged"),
        (("1 kg", 1.0), ("2 kg", 1.95), ("5 kg", 4.7), ("10 kg", 9.2), ("25 kg", 22.0)),
        ("Cleaned, sorted and packed in Dinajpur.",
         "Cooks up fluffy with separate grains.",
         "This season's harvest, straight from the mill.",
         "No stones, no husk: ready to wash and cook.",
         "A staple for everyday meals and festive biryani alike."),
    ),
    Department(
        "snacks", "Snacks & Biscuits", "SNK", 14,
        ("Crunchy Bay", "Mishti Mukh", "Nasta Co.", "Tiffin Box", "Chanachur King", "Golden Crisp"),
        (("Chanachur", 60), ("Potato Chips", 40), ("Cream Biscuits", 35), ("Butter Cookies", 120),
         ("Dry Cake", 90), ("Roasted Peanuts", 70), ("Puffed Rice (Muri)", 50), ("Chocolate Wafers", 55),
         ("Nimki", 65)),
        ("Classic", "Original", "Crispy", "Premium", "Family", "Party"),
        (("35 g", 0.5), ("75 g", 1.0), ("150 g", 1.9), ("300 g", 3.6), ("500 g", 5.8)),
        ("The four o'clock snack with a cup of tea.",
         "Crunchy, light and made fresh every week.",
         "Made with pure vegetable oil and no artificial colours.",
         "A resealable pack for the tiffin box.",
         "Best before three months from packing."),
    ),
    Department(
        "personal-care", "Personal Care", "PER", 12,
        ("Neem Leaf Naturals", "Aloe Bliss", "Shuddho", "Glow & Co.", "Pureskin", "Kesh Care"),
        (("Herbal Shampoo", 280), ("Face Wash", 220), ("Moisturising Lotion", 350), ("Toothpaste", 120),
         ("Bathing Soap", 60), ("Coconut Hair Oil", 180), ("Hand Wash", 150), ("Sunscreen SPF 50", 650),
         ("Roll-on Deodorant", 320)),
        ("Aloe Vera", "Sandalwood", "Lemon", "Charcoal", "Sensitive", "Rose", "Fresh Mint", ""),
        (("Travel Size", 0.45), ("Regular", 1.0), ("Large", 1.8), ("Family Pack", 3.2)),
        ("Dermatologically tested and gentle on every skin type.",
         "Free from parabens and harsh sulphates.",
         "With neem and turmeric, as grandmothers recommend.",
         "A light, fresh fragrance that lasts.",
         "Not tested on animals."),
    ),
    Department(
        "household", "Household & Cleaning", "HOU", 10,
        ("Jhakjhake", "Shine Home", "CleanNest", "Ghor Bari", "Sparkle & Co.", "Fresh Day"),
        (("Dishwashing Liquid", 160), ("Laundry Detergent", 240), ("Floor Cleaner", 190),
         ("Toilet Cleaner", 170), ("Glass Cleaner", 180), ("Scrub Sponges", 90), ("Garbage Bags", 150),
         ("Mosquito Coil", 110), ("Air Freshener", 260)),
        ("Lemon", "Lavender", "Pine", "Antibacterial", "Ocean Fresh", "Unscented"),
        (("Small", 0.55), ("Regular", 1.0), ("Large", 1.8), ("Value Pack", 3.1)),
        ("Cuts through grease in a single wipe.",
         "Kills 99.9% of germs when used as directed.",
         "Safe on tiles, marble and mosaic floors.",
         "Keep out of reach of children.",
         "A concentrated formula: a little goes a long way."),
    ),
    Department(
        "electronics-accessories", "Electronics Accessories", "ELC", 10,
        ("Voltix", "Amperon", "Linkwave", "Chargely", "Dhaka Digital", "Nexplug"),
        (("USB-C Cable", 350), ("20W Fast Charger", 900), ("10000 mAh Power Bank", 1900),
         ("Wireless Earbuds", 2600), ("Bluetooth Speaker", 2200), ("Phone Case", 450),
         ("Tempered Glass Screen Protector", 300), ("Wireless Mouse", 850), ("HDMI Cable", 550),
         ("Laptop Stand", 1600)),
        ("Braided", "Slim", "Pro", "Mini", "Max", "Lite", ""),
        (("Black", 1.0), ("White", 1.0), ("Midnight Blue", 1.05), ("Space Grey", 1.05), ("Twin Pack", 1.8)),
        ("Comes with a 12-month replacement warranty.",
         "Certified for safe charging with over-current protection.",
         "Works with Android phones, iPhones and laptops.",
         "Tough enough for daily commutes on a crowded bus.",
         "Ships in recyclable packaging."),
        usd_share=0.2,
    ),
    Department(
        "stationery", "Stationery & Office", "STN", 10,
        ("Lekhoni", "Kalam & Co.", "Paper Boat", "Boi Ghor", "Inkwell", "Matra"),
        (("Gel Pen", 25), ("Ballpoint Pen", 10), ("Spiral Notebook", 90), ("Exercise Khata", 40),
         ("Highlighter", 45), ("HB Pencil", 12), ("Sticky Notes", 80), ("A4 Paper Ream", 520),
         ("Geometry Box", 220), ("Whiteboard Marker", 60)),
        ("Blue", "Black", "Assorted", "Premium", "Student", "Office"),
        (("Single", 1.0), ("Pack of 5", 4.6), ("Pack of 10", 8.8), ("Box of 24", 20.0)),
        ("Smooth writing from the first line to the last.",
         "Acid-free paper that does not yellow.",
         "A favourite for exams and office desks alike.",
         "Quick-drying ink that does not smudge.",
         "Made in Bangladesh."),
    ),
    Department(
        "baby-care", "Baby Care", "BBY", 8,
        ("Little Moni", "Shishu Care", "Tiny Steps", "Soft Petal", "Baby Bloom", "Nanny's Choice"),
        (("Baby Diapers", 900), ("Baby Wipes", 220), ("Baby Lotion", 380), ("Baby Shampoo", 350),
         ("Feeding Bottle", 450), ("Baby Powder", 200), ("Diaper Rash Cream", 320), ("Infant Cereal", 550)),
        ("Gentle", "Sensitive", "Aloe", "Unscented", "Newborn", "Organic"),
        (("Small", 0.6), ("Regular", 1.0), ("Jumbo", 2.1), ("Value Pack", 3.0)),
        ("Paediatrician-tested and hypoallergenic.",
         "Free from alcohol, parabens and dyes.",
         "Soft enough for a newborn's skin.",
         "BPA-free materials throughout.",
         "Trusted by mothers across Bangladesh."),
    ),
)  # fmt: skip


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
    rng = random.Random(seed)  # noqa: S311
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


def _price(rng: random.Random, taka: float, usd_share: float) -> Money:
    """A shop-like price in minor units: whole taka rounded to 5/10/50 in poisha, or $x.99 in cents."""
    if rng.random() < usd_share:
        return Money(amount=max(99, round(taka / TAKA_PER_USD) * 100 - 1), currency="USD")
    step = 5 if taka < 100 else 10 if taka < 1000 else 50
    return Money(amount=max(step, round(taka / step) * step) * 100, currency="BDT")


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


class SeedSettings(CatalogSettings):
    """The catalog's settings, of which the seeder needs only the database; it needs no secret."""

    service_name: ClassVar[str] = "catalog-seed"
    # Absent secrets stay absent instead of being generated into DATA_DIR/dev-secrets.
    optional_secrets: ClassVar[frozenset[str]] = frozenset(CatalogSettings.secret_field_names())


@dataclass(frozen=True)
class Target:
    mongodb_url: str
    database: str
    # Of the local stack, when seeding the one `make run` starts: what `--wait` waits for, and how long.
    gateway_url: str | None = None
    startup_timeout_seconds: float = 0.0


def resolve_target(settings: SeedSettings) -> Target:
    """MONGODB_URL when set, otherwise the embedded server of `make run` on the port it really uses."""
    try:
        from devstack.stack import Stack, StackSettings  # development tooling, absent from the image
    except ImportError:
        return Target(settings.mongodb_url, settings.mongodb_db)
    stack = Stack(StackSettings())
    url = settings.mongodb_url if "mongodb_url" in settings.model_fields_set else stack.mongodb_url
    # The launcher waits up to this long for each of its steps (database, services, gateway).
    budget = 3 * stack.settings.startup_timeout_seconds
    return Target(url, settings.mongodb_db, stack.gateway_url, budget)


def wait_for_stack(gateway_url: str, timeout_seconds: float) -> bool:
    """Wait until the gateway reports every service ready; False if our parent (the launcher) exits first."""
    parent = os.getppid()
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and os.getppid() == parent:
        try:
            with urllib.request.urlopen(f"{gateway_url}/health", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


async def _seed(target: Target, products: int, seed: int, follow_parent: bool) -> SeedSummary:
    client: MongoClient = AsyncMongoClient(
        target.mongodb_url, tz_aware=True, w="majority", serverSelectionTimeoutMS=CONNECT_TIMEOUT_MS
    )
    try:
        seeding = asyncio.ensure_future(seed_catalog(client[target.database], products=products, seed=seed))
        if follow_parent:
            watcher = asyncio.ensure_future(_parent_exited(os.getppid()))
            await asyncio.wait([seeding, watcher], return_when=asyncio.FIRST_COMPLETED)
            watcher.cancel()
            if not seeding.done():
                seeding.cancel()
                raise KeyboardInterrupt  # the stack is stopping: stop with it
        return await seeding
    finally:
        await client.close()


async def _parent_exited(parent: int) -> None:
    """Return once the process that started us has gone (we are then adopted by another)."""
    while True:
        await asyncio.sleep(0.5)
        if os.getppid() != parent:
            return


def where(url: str) -> str:
    """The host list of a MongoDB URL, without the credentials it may hold (and without a DNS lookup)."""
    hosts = url.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0]
    return hosts.rsplit("@", 1)[-1]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m services.catalog.seed", description="Load the demo catalog (idempotent)."
    )
    parser.add_argument(
        "--products", type=int, default=DEFAULT_PRODUCTS, help="how many (default %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    parser.add_argument(
        "--wait",
        action="store_true",
        help="wait until the stack that `make run` is starting is ready, then seed (for `make run SEED=1`)",
    )
    args = parser.parse_args(argv)
    if args.products < 0:
        parser.error("--products must not be negative")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.wait:
        # Started in the background by a shell, which ignores Ctrl-C for us; stop with the stack.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    configure_logging(SeedSettings.service_name, "WARNING")  # one summary line, not one per product
    try:
        settings = load_settings(SeedSettings)
    except SettingsError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    if settings.is_production:
        print("seed: refusing ENV=production: the demo catalog is for development only", file=sys.stderr)
        return 2
    target = resolve_target(settings)
    try:
        gateway = target.gateway_url if args.wait else None
        if gateway and not wait_for_stack(gateway, target.startup_timeout_seconds):
            print("seed: the stack did not become ready; nothing seeded", file=sys.stderr)
            return 1
        summary = asyncio.run(_seed(target, args.products, args.seed, follow_parent=args.wait))
    except KeyboardInterrupt:
        print("seed: interrupted", file=sys.stderr)
        return 130
    except PyMongoError as exc:
        print(
            f"seed: cannot seed database {target.database!r} on {where(target.mongodb_url)} "
            f"({type(exc).__name__}); is the stack running (`make run`)?",
            file=sys.stderr,
        )
        return 1
    print(f"{summary.line()} into {target.database!r} on {where(target.mongodb_url)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
