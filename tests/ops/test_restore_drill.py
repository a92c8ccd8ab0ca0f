"""The restore drill: a backup taken while the shop takes orders restores into a shop that works and
whose books balance.

Customers order, pay in the sandbox and cancel, an admin refunds with restock and adjusts stock, all
through the gateway; a backup starts after a third of the checkouts. While it runs, after it has read
`orders` and before it reads `products`, more orders and a stock adjustment are made (a hook of the
backup, so they certainly land mid-backup): a backup that was not one point in time would hold their
stock decrements without the orders. The backup is restored with the CLI into a fresh database, the
services are started on it, and then: every invariant holds on the restored data (stock + held =
start + adjustments, restocks included; paid orders and succeeded payments match; refunds within
captures; whole orders), every write acknowledged before the backup's point in time is there, none
sent after it is, and the restored shop serves its customers and takes a new order.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from bson import ObjectId
from pymongo import AsyncMongoClient

from devstack.stack import Stack
from shared.db import Database
from shared.db import MongoClient as AsyncClient
from shop.audit.load import AuditReport, audit_database
from shop.audit.shapes import CAPTURED_PAYMENT_STATES, is_closed, is_paid
from shop.backup.dump import BackupResult, take_backup
from shop.database import connected
from tests.builders import bearer, login, place_order
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, log_tails, stack_env, stack_settings
from tests.ops.cli import run_shop, shop_env
from tests.ops.drill import STARTING_STOCK, DrillShop, Write, open_drill_shop

pytestmark = pytest.mark.slow

PRODUCTS = 5
SHOPPERS = 7
ROUNDS = 4
LATE_ORDERS = 3
# shared.clock.utcnow keeps milliseconds: a time recorded just after another may read 1 ms earlier.
CLOCK_GRAIN = timedelta(milliseconds=1)


def assert_all_pass(report: AuditReport) -> None:
    failing = {v.name: v.findings[:5] for v in report.verdicts if v.status != "PASS"}
    assert failing == {}, failing


async def audit(client: AsyncClient, database: str, url: str, products: list[str]) -> AuditReport:
    ids = [ObjectId(product_id) for product_id in products]
    return await audit_database(
        client, database, url, starting_stock=dict.fromkeys(ids, STARTING_STOCK), scope=ids
    )


async def present(db: Database, write: Write) -> bool:
    """Whether the restored database shows the write's effect."""
    ids = {name: ObjectId(value) for name, value in write.ids.items()}
    if write.kind == "checkout":
        return await db.orders.find_one({"_id": ids["order_id"]}) is not None
    if write.kind == "payment":
        payment = await db.payments.find_one({"_id": ids["payment_id"]})
        order = await db.orders.find_one({"_id": ids["order_id"]})
        captured = payment is not None and payment["status"] in CAPTURED_PAYMENT_STATES
        return captured and order is not None and is_paid(order)
    if write.kind == "cancel":
        order = await db.orders.find_one({"_id": ids["order_id"]})
        return order is not None and is_closed(order)
    if write.kind == "refund":
        return await db.refunds.find_one({"_id": ids["refund_id"]}) is not None
    if write.kind == "adjustment":
        return await db.stock_adjustments.find_one({"_id": ids["adjustment_id"]}) is not None
    return True  # payment-start: its effect is judged through the completion


async def drive_shop_and_back_up(
    shop: DrillShop, url: str, database: str, root: Path
) -> tuple[BackupResult, list[Write]]:
    late_shopper = shop.shoppers.pop()
    late: list[Write] = []

    async def mid_backup(collection: str) -> None:
        if collection == "products":  # `orders` is read already; these must not show anywhere
            late.extend([await shop.checkout(late_shopper) for _ in range(LATE_ORDERS)])
            late.append(await shop.adjust())

    async def backup() -> BackupResult:
        # A barrier on every kind the restored copy is checked for, not only on checkouts: the
        # backup once opened before any cancel had been acknowledged.
        for kind, count in (("checkout", SHOPPERS * ROUNDS // 3), ("payment", 1), ("cancel", 1)):
            await shop.wait_for(kind, count)
        async with connected(url) as client:
            return await take_backup(client, url, database, root, before_collection=mid_backup)

    stop = asyncio.Event()
    administering = asyncio.create_task(shop.administer(stop))
    backing_up = asyncio.create_task(backup())
    await asyncio.gather(*(shop.shop(s, ROUNDS, i) for i, s in enumerate(shop.shoppers)))
    stop.set()
    await administering
    return await backing_up, late


async def test_restore_drill(
    stack: Stack, gateway: httpx.AsyncClient, admin: dict[str, str], database_name: str, tmp_path: Path
) -> None:
    shop = await open_drill_shop(gateway, admin, PRODUCTS, SHOPPERS + 1)
    result, late = await drive_shop_and_back_up(shop, stack.mongodb_url, database_name, tmp_path / "backups")
    manifest = result.manifest
    assert len(late) == LATE_ORDERS + 1

    restored = f"restored_{secrets.token_hex(4)}"
    env = shop_env(ENV="test", MONGODB_URL=stack.mongodb_url)
    ran = await run_shop(
        "restore", "--from", str(result.path), "--db", restored, "--json", env=env, cwd=tmp_path
    )
    assert ran.code == 0, ran.stderr
    counts = {name: entry["documents"] for name, entry in ran.json()["collections"].items()}
    assert counts == {name: entry.count for name, entry in manifest.collections.items()}

    client: AsyncClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    try:
        restored_db = client[restored]
        assert_all_pass(
            await audit(client, database_name, stack.mongodb_url, shop.products)
        )  # the live shop too
        report = await audit(client, restored, stack.mongodb_url, shop.products)
        assert_all_pass(report)
        assert report.verdicts[0].checked == PRODUCTS  # the stock balance of every drill product

        point = manifest.consistency
        before = [w for w in shop.writes if w.acked_at < point.opened_at]
        after = [w for w in shop.writes if w.sent_at > point.pinned_at + CLOCK_GRAIN]
        assert {id(w) for w in late} <= {id(w) for w in after}
        assert {w.kind for w in before} >= {"checkout", "payment", "cancel"}, "the backup came too early"
        missing = [(w.kind, w.ids) for w in before if not await present(restored_db, w)]
        assert missing == [], "acknowledged before the backup's point in time, yet not restored"
        leaked = [
            (w.kind, w.ids) for w in after if w.kind != "payment-start" and await present(restored_db, w)
        ]
        assert leaked == [], "sent after the backup's point in time, yet restored"

        await check_restored_shop(stack, restored_db, tmp_path / "restored", shop, before, late)
        assert_all_pass(await audit(client, restored, stack.mongodb_url, shop.products))
    finally:
        await client.drop_database(restored)
        await client.close()


async def check_restored_shop(
    main: Stack, restored_db: Database, root: Path, shop: DrillShop, before: list[Write], late: list[Write]
) -> None:
    """Services started on the restored database serve what it holds, and take a new order."""
    restored = Stack(
        stack_settings(root / "data", mongodb_url=main.mongodb_url),
        env=stack_env(restored_db.name),
        log_dir=root / "logs",
    )
    try:
        await asyncio.to_thread(restored.start)
    except Exception:
        pytest.fail(f"the services did not start on the restored database\n{log_tails(root / 'logs')}")
    try:
        async with httpx.AsyncClient(base_url=restored.gateway_url, timeout=30) as http:
            admin = bearer(await login(http, ADMIN_EMAIL, ADMIN_PASSWORD))
            checkout = next(w for w in before if w.kind == "checkout")
            assert checkout.by is not None
            owner = checkout.by.account
            customer = bearer(await login(http, owner.email, owner.password))
            seen = await http.get(f"/api/v1/orders/{checkout.ids['order_id']}", headers=customer)
            assert seen.status_code == 200, seen.text
            stored = await restored_db.orders.find_one({"_id": ObjectId(checkout.ids["order_id"])})
            assert stored is not None
            assert seen.json()["status"] == stored["status"]
            product = await http.get(f"/api/v1/products/{shop.products[0]}", headers=admin)
            stored_product = await restored_db.products.find_one({"_id": ObjectId(shop.products[0])})
            assert stored_product is not None
            assert product.json()["stock"] == stored_product["stock"]
            gone = await http.get(f"/api/v1/orders/{late[0].ids['order_id']}", headers=admin)
            assert gone.status_code == 404, gone.text
            placed = await place_order(http, customer, [(shop.products[0], 1)])
            assert placed.status_code == 201, placed.text
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(restored.stop)
