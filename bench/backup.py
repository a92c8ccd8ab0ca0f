"""Backup and restore throughput: 100,000 products and 100,000 orders, inserted directly into a fresh
embedded server (or a throw-away database on MONGODB_URL), then `shop backup` (plain and encrypted),
a full verification, and `shop restore` into another database.

Prints documents/s and MB/s (of BSON) for each step and how long the backup's snapshot stayed open.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId

from devstack.stack import Stack, settings_on_free_ports
from services.catalog.collections import COLLECTIONS as CATALOG_COLLECTIONS
from services.order.collections import collections as order_collections
from shared.db import Database, MongoClient, ensure_collections
from shop.backup.crypto import BackupKey
from shop.backup.dump import BackupResult, take_backup
from shop.backup.restore import restore_backup
from shop.backup.verify import verify_backup
from shop.database import connected

PRODUCTS = 100_000
ORDERS = 100_000
BATCH = 2_000
MB = 1_000_000
WORDS = [
    "tea",
    "coffee",
    "rice",
    "lentil",
    "spice",
    "oil",
    "soap",
    "honey",
    "ghee",
    "flour",
    "sugar",
    "salt",
    "jute",
    "cotton",
    "silk",
]


def a_product(rng: random.Random, i: int, now: datetime) -> dict[str, Any]:
    name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i}"
    return {
        "_id": ObjectId(), "sku": f"BENCH-{i:07d}", "name": name, "name_key": name.lower(),
        "description": " ".join(rng.choice(WORDS) for _ in range(30)),
        "price": {"amount": rng.randint(100, 500_000), "currency": "BDT"}, "stock": rng.randint(0, 500),
        "category": rng.choice(WORDS), "active": rng.random() > 0.05,
        "images": [f"https://images.example.com/{i}/{n}.jpg" for n in range(rng.randint(0, 3))],
        "search_terms": sorted({rng.choice(WORDS) for _ in range(8)} | {f"bench-{i:07d}"}),
        "created_at": now - timedelta(minutes=i), "updated_at": now, "version": 1,
    }  # fmt: skip


def an_order(rng: random.Random, products: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    lines = []
    for product in rng.sample(products, rng.randint(1, 3)):
        quantity = rng.randint(1, 3)
        price = product["price"]
        lines.append({
            "product_id": product["_id"], "sku": product["sku"], "name": product["name"],
            "quantity": quantity,
            "unit_price": price, "line_total": {"amount": price["amount"] * quantity, "currency": "BDT"},
            "restocked_quantity": 0,
        })  # fmt: skip
    user = f"{rng.getrandbits(96):024x}"
    return {
        "_id": ObjectId(), "user_id": user, "status": "paid", "items": lines,
        "total": {"amount": sum(line["line_total"]["amount"] for line in lines), "currency": "BDT"},
        "created_at": now, "updated_at": now, "expires_at": None, "payment_id": ObjectId(),
        "history": [
            {"status": "pending_payment", "at": now, "by": user},
            {"status": "paid", "at": now, "by": "payment"},
        ],
        "idempotency_key": secrets.token_hex(16),
    }  # fmt: skip


async def fill(db: Database) -> float:
    await ensure_collections(db, {**CATALOG_COLLECTIONS, **order_collections(24 * 3600)})
    rng = random.Random(14)  # noqa: S311 - synthetic data
    now = datetime.now(UTC)
    started = time.perf_counter()
    products = [a_product(rng, i, now) for i in range(PRODUCTS)]
    for start in range(0, PRODUCTS, BATCH):
        await db.products.insert_many(products[start : start + BATCH], ordered=False)
    sample = products[:5_000]
    for _ in range(0, ORDERS, BATCH):
        await db.orders.insert_many([an_order(rng, sample, now) for _ in range(BATCH)], ordered=False)
    return time.perf_counter() - started


def rates(documents: int, size: int, seconds: float) -> str:
    return f"{documents / seconds:9,.0f} documents/s  {size / MB / seconds:6.1f} MB/s  ({seconds:5.1f} s)"


def describe(label: str, result: BackupResult) -> None:
    bson = sum(entry.bson_bytes for entry in result.manifest.collections.values())
    print(f"{label:<22} {rates(result.documents, bson, result.seconds)}  "
          f"{bson / MB:.0f} MB of BSON stored as {result.stored_bytes / MB:.1f} MB; "
          f"snapshot ({result.manifest.consistency.method}) open "
          f"{result.manifest.consistency.open_seconds:.1f} s",
          flush=True)  # fmt: skip


async def measure(url: str, *, drop: bool) -> None:
    """`drop`: remove the two databases afterwards (on MONGODB_URL; a throw-away embedded server
    goes as a whole, faster than dropping 200,000 documents from it)."""
    database, restored = f"bench_backup_{secrets.token_hex(4)}", f"bench_restored_{secrets.token_hex(4)}"
    async with connected(url) as client:
        try:
            seconds = await fill(client[database])
            print(f"inserted {PRODUCTS:,} products and {ORDERS:,} orders in {seconds:.1f} s", flush=True)
            with tempfile.TemporaryDirectory() as root:
                await run_steps(client, url, database, restored, Path(root))
        finally:
            if drop:
                await client.drop_database(database)
                await client.drop_database(restored)


async def run_steps(client: MongoClient, url: str, database: str, restored: str, root: Path) -> None:
    plain = await take_backup(client, url, database, root / "plain")
    describe("backup", plain)
    key = secrets.token_urlsafe(32)
    describe(
        "backup, encrypted", await take_backup(client, url, database, root / "encrypted", key=BackupKey(key))
    )
    bson = sum(entry.bson_bytes for entry in plain.manifest.collections.values())
    started = time.perf_counter()
    verified = await asyncio.to_thread(verify_backup, plain.path, None)
    print(
        f"{'verify (all files)':<22} {rates(plain.documents, bson, time.perf_counter() - started)}",
        flush=True,
    )
    result = await restore_backup(client, url, verified, restored)
    builds = (
        f"of which index builds {result.index_seconds:.1f} s" if result.index_seconds else "indexes first"
    )
    print(
        f"{'restore (+ indexes)':<22} {rates(result.documents, bson, result.seconds)}  {builds}", flush=True
    )


def main() -> None:
    url = os.environ.get("MONGODB_URL")
    if url:
        asyncio.run(measure(url, drop=True))
        return
    with tempfile.TemporaryDirectory() as data_dir:
        stack = Stack(
            settings_on_free_ports(Path(data_dir), mongodb_url=None), log_dir=Path(data_dir) / "logs"
        )
        stack.start_embedded_db()
        try:
            asyncio.run(measure(stack.mongodb_url, drop=False))
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
