"""Checkout throughput, and that concurrent checkouts never oversell: through the gateway, then directly.

On a fresh stack, BUYERS concurrent customers place orders through the gateway in two workloads:
spread (1-3 random lines over SPREAD_PRODUCTS well-stocked products) and hot (everyone after the
same HOT_PRODUCTS products of HOT_STOCK units until they sell out, then a few more attempts that
must all be refused with 409). Prints orders placed, orders/s, p50/p95/p99 latency of every
attempt, 409s and other errors, and after each workload the invariant against the database: for
every product, units sold (net of restocks) + stock left == initial stock, and stock >= 0
(`oversell: 0`), and how contended the checkouts were: runs of each order's transaction (1 when
it met no write conflict) and the time it took, as the order service logs them. Then the same
workloads call `place_order` directly on the database (no HTTP, no services) with the same
concurrency, and the gateway/direct ratios are printed.

Before and after the gateway's workloads, the store's own contended single-document transaction
rate is measured on the same server (bench/transactions.py: an insert and an increment of one
document, CONTENDED_CLIENTS at once), and the hot workload's orders/s through the gateway is
printed against it (goal: at least HOT_GOAL). Every run is bounded (a fixed number of orders per
buyer, or TIME_BUDGET_SECONDS) and stops by itself.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import httpx
from bson import ObjectId
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from bench.checkout_figures import Caught, LogFile, TransactionFigures
from bench.stack import percentile, running_stack
from bench.transactions import contended
from services.catalog.products.schemas import Price, ProductCreate
from services.catalog.products.service import create_product
from services.order.orders.checkout import OrderContext, place_order
from services.order.orders.errors import InsufficientStock
from services.order.orders.schemas import OrderLineRequest, PlaceOrder
from services.order.settings import OrderSettings
from shared.db import Database, MongoClient

BUYERS = 16
SPREAD_PRODUCTS = 20
SPREAD_STOCK = 10_000
SPREAD_ORDERS_PER_BUYER = 25
HOT_PRODUCTS = 2
# Small enough to sell out within the time budget on the embedded server (~30 contended orders/s).
HOT_STOCK = 150
TWO_LINE_SHARE = 0.3  # of hot orders while both hot products are still in stock
AFTER_SELL_OUT_ATTEMPTS = 2  # per buyer once both hot products are gone; each must be a 409
TIME_BUDGET_SECONDS = 20.0
# The hot workload through the gateway, in orders/s, against the store's contended transactions/s.
HOT_GOAL = 0.5
CONTENDED_CLIENTS = 50
# Registrations and logins at once: each is an Argon2 hash (~64 MiB); a burst of all BUYERS can outlast
# the gateway's upstream timeout on a small machine.
SIGN_UP_CONCURRENCY = 4
PASSWORD = "a long and unusual benchmark passphrase"  # noqa: S105 - throw-away accounts
PRICE = Price(amount=1000, currency="BDT")
# The highest values the order settings accept.
FAIR_STOCK_UNLIMITED = {"ORDER_MAX_OPEN_PER_CUSTOMER": "1000", "ORDER_MAX_UNITS_PER_PRODUCT": "1000000"}
STACK_ENV = {
    "ORDER_EXPIRY_SWEEP_SECONDS": "3600",  # the reaper stays out of the way
    "LOG_LEVEL": "WARNING",
    # Every buyer comes from 127.0.0.1: keep any per-client rate limit out of reach.
    "RATE_LIMIT_DEFAULT": "1000000/minute",
    "RATE_LIMIT_AUTH": "100000/minute",
    # Buyers never pay: keep the fair-stock caps on unpaid orders out of reach.
    **FAIR_STOCK_UNLIMITED,
}

Line = tuple[str, int]  # (product id, quantity)


@dataclass(frozen=True)
class Outcome:
    kind: Literal["placed", "short", "error"]
    sold_out: frozenset[str] = frozenset()  # products the 409 reported with nothing left
    detail: str = ""


# Places one order for buyer number `buyer`; never raises.
Placer = Callable[[int, list[Line]], Awaitable[Outcome]]


@dataclass
class Stats:
    name: str
    seconds: float = 0.0
    placed: int = 0
    short: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # every attempt, seconds
    sold_out: bool | None = None  # hot workload: whether every hot product ran out
    late_attempts: int = 0  # hot workload: attempts after the sell-out
    late_refused: int = 0  # ...and how many of them were 409s

    @property
    def rate(self) -> float:
        return self.placed / self.seconds if self.seconds else 0.0

    def p(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000 if self.latencies else float("nan")

    def report(self) -> str:
        lines = [
            f"{self.name:<22} placed {self.placed:5d}  {self.rate:7.1f} orders/s   "
            f"p50 {self.p(0.50):6.1f} ms  p95 {self.p(0.95):6.1f} ms  p99 {self.p(0.99):6.1f} ms  "
            f"(n={len(self.latencies)})   409s {self.short:4d}   other errors {len(self.errors)}"
        ]
        if self.sold_out is not None:
            if self.sold_out:
                lines.append(
                    f"{'':<22} sold out in {self.seconds:.1f}s; after sell-out "
                    f"{self.late_refused}/{self.late_attempts} attempts answered 409"
                )
            else:
                lines.append(f"{'':<22} NOT sold out within {TIME_BUDGET_SECONDS:.0f}s")
        lines += [f"{'':<22} error: {detail}" for detail in self.errors[:3]]
        return "\n".join(lines)


async def attempt(stats: Stats, place: Placer, buyer: int, lines: list[Line]) -> Outcome:
    started = time.perf_counter()
    outcome = await place(buyer, lines)
    stats.latencies.append(time.perf_counter() - started)
    if outcome.kind == "placed":
        stats.placed += 1
    elif outcome.kind == "short":
        stats.short += 1
    else:
        stats.errors.append(outcome.detail)
    return outcome


def sold_out_in(short_lines: Sequence[dict[str, Any]]) -> frozenset[str]:
    """Products an insufficient-stock answer reports as empty (stock never grows here, so for good)."""
    return frozenset(str(line["product_id"]) for line in short_lines if line.get("available") == 0)


async def spread_workload(name: str, place: Placer, products: list[str]) -> Stats:
    stats = Stats(name)
    started = time.perf_counter()
    deadline = started + TIME_BUDGET_SECONDS

    async def buyer(number: int) -> None:
        rng = random.Random(number)  # noqa: S311 - reproducible picks, not secrets
        for _ in range(SPREAD_ORDERS_PER_BUYER):
            if time.perf_counter() >= deadline:
                return
            picks = rng.sample(products, rng.randint(1, 3))
            await attempt(stats, place, number, [(product, rng.randint(1, 2)) for product in picks])

    await asyncio.gather(*(buyer(number) for number in range(BUYERS)))
    stats.seconds = time.perf_counter() - started
    return stats


async def hot_workload(name: str, place: Placer, products: list[str]) -> Stats:
    stats = Stats(name)
    sold_out: set[str] = set()
    started = time.perf_counter()
    deadline = started + TIME_BUDGET_SECONDS

    async def buyer(number: int) -> None:
        rng = random.Random(1000 + number)  # noqa: S311 - reproducible picks, not secrets
        while time.perf_counter() < deadline:
            left = [product for product in products if product not in sold_out]
            if not left:
                break
            if len(left) > 1 and rng.random() < TWO_LINE_SHARE:
                lines = [(product, 1) for product in left]
            else:
                lines = [(rng.choice(left), rng.randint(1, 2))]
            sold_out.update((await attempt(stats, place, number, lines)).sold_out)
        else:
            return  # out of time, not sold out: no late attempts
        for late in range(AFTER_SELL_OUT_ATTEMPTS):
            lines = [(products[late % len(products)], 1)] if late % 2 == 0 else [(p, 1) for p in products]
            outcome = await attempt(stats, place, number, lines)
            stats.late_attempts += 1
            stats.late_refused += outcome.kind == "short"

    await asyncio.gather(*(buyer(number) for number in range(BUYERS)))
    stats.seconds = time.perf_counter() - started
    stats.sold_out = len(sold_out) == len(products)
    return stats


# -- the two ways of placing an order --------------------------------------------------------------


def gateway_placer(client: httpx.AsyncClient, headers: list[dict[str, str]]) -> Placer:
    async def place(buyer: int, lines: list[Line]) -> Outcome:
        body = {"items": [{"product_id": product, "quantity": quantity} for product, quantity in lines]}
        request_headers = {**headers[buyer], "Idempotency-Key": uuid.uuid4().hex}
        try:
            response = await client.post("/api/v1/orders", json=body, headers=request_headers)
        except httpx.HTTPError as exc:
            return Outcome("error", detail=f"{type(exc).__name__}: {exc}")
        if response.status_code == 201:
            return Outcome("placed")
        if response.status_code == 409:
            problem: dict[str, Any] = response.json()
            if str(problem.get("type", "")).endswith("/insufficient-stock"):
                return Outcome("short", sold_out_in(problem.get("lines", [])))
        return Outcome("error", detail=f"{response.status_code} {response.text[:200]}")

    return place


def direct_placer(ctx: OrderContext, user_ids: list[str]) -> Placer:
    async def place(buyer: int, lines: list[Line]) -> Outcome:
        try:
            items = [OrderLineRequest(product_id=product, quantity=quantity) for product, quantity in lines]
            await place_order(ctx, user_ids[buyer], PlaceOrder(items=items), uuid.uuid4().hex)
        except InsufficientStock as short:
            return Outcome("short", sold_out_in(short.extensions.get("lines", [])))
        except Exception as exc:  # counted and shown, like a non-201 answer
            return Outcome("error", detail=f"{type(exc).__name__}: {exc}"[:200])
        return Outcome("placed")

    return place


# -- data and the invariant ------------------------------------------------------------------------


async def seed_products(db: Database, label: str, count: int, stock: int) -> dict[str, int]:
    """`count` new products of `stock` units each; returns {product id: initial stock}."""
    tag = secrets.token_hex(3).upper()
    created: dict[str, int] = {}
    for index in range(count):
        data = ProductCreate(
            sku=f"BENCH-{tag}-{label}-{index:02d}", name=f"Bench {label} {index}", price=PRICE, stock=stock
        )
        product = await create_product(db, data)
        created[product.id] = stock
    return created


async def check_invariant(db: Database, initial: dict[str, int], placed: int) -> None:
    """Units sold (net of restocks) + stock left == initial stock, and stock >= 0, for every product."""
    ids = [ObjectId(product) for product in initial]
    sold = dict.fromkeys(initial, 0)
    orders = 0
    async for order in db.orders.find({"items.product_id": {"$in": ids}}, {"items": 1}):
        orders += 1
        for line in order["items"]:
            product = str(line["product_id"])
            if product in sold:
                sold[product] += line["quantity"] - line.get("restocked_quantity", 0)
    stock = {str(doc["_id"]): doc["stock"] async for doc in db.products.find({"_id": {"$in": ids}})}
    violations = []
    for product, units in initial.items():
        left = stock.get(product, 0)
        if sold[product] + left != units or left < 0:
            violations.append(
                f"{product}: sold {sold[product]} + stock {left} = {sold[product] + left}, "
                f"initial {units} (off by {sold[product] + left - units:+d})"
            )
    print(f"  orders stored: {orders} (placed: {placed}); units sold: {sum(sold.values())}")
    print(f"  oversell: {len(violations)}" + "".join(f"\n    {violation}" for violation in violations))


async def run_both(
    heading: str,
    db: Database,
    place: Placer,
    results: dict[str, Stats],
    prefix: str,
    contention: Callable[[], TransactionFigures],
) -> None:
    """The spread and hot workloads; `contention` gives the transaction figures of the orders placed
    since it was last called."""
    print(f"== {heading}: spread ({SPREAD_PRODUCTS} products x {SPREAD_STOCK:,} units) ==")
    spread = await seed_products(db, f"{prefix}S", SPREAD_PRODUCTS, SPREAD_STOCK)
    contention()
    stats = await spread_workload(f"{prefix} spread", place, list(spread))
    results["spread"] = stats
    print(stats.report())
    print(f"  {contention().report()}")
    await check_invariant(db, spread, stats.placed)

    print(f"== {heading}: hot ({HOT_PRODUCTS} products x {HOT_STOCK} units, all buyers) ==")
    hot = await seed_products(db, f"{prefix}H", HOT_PRODUCTS, HOT_STOCK)
    contention()
    stats = await hot_workload(f"{prefix} hot", place, list(hot))
    results["hot"] = stats
    print(stats.report())
    print(f"  {contention().report()}")
    await check_invariant(db, hot, stats.placed)


async def store_rate(mongo: MongoClient, database: str) -> float:
    """The server's contended single-document transactions/s, now (bench/transactions.py)."""
    result = await contended(mongo, mongo[database], CONTENDED_CLIENTS)
    print(f"store: {result.report()}")
    return result.rate


# -- the run ---------------------------------------------------------------------------------------


async def sign_up(client: httpx.AsyncClient, number: int) -> tuple[str, dict[str, str]]:
    """A new customer, logged in: (user id, Authorization headers)."""
    email = f"bench-{number}-{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "name": f"Bench buyer {number}"}
    registered = await client.post("/api/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    tokens = await client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert tokens.status_code == 200, tokens.text
    return str(registered.json()["id"]), {"Authorization": f"Bearer {tokens.json()['access_token']}"}


async def measure(gateway_url: str, mongodb_url: str, database: str, order_log: Path, drop: bool) -> None:
    mongo: MongoClient = AsyncMongoClient(mongodb_url, tz_aware=True)
    db = mongo[database]
    gateway: dict[str, Stats] = {}
    direct: dict[str, Stats] = {}
    store: list[float] = []
    log = LogFile(order_log)
    try:
        limits = httpx.Limits(max_connections=BUYERS, max_keepalive_connections=BUYERS)
        async with httpx.AsyncClient(base_url=gateway_url, timeout=60, limits=limits) as client:
            started = time.perf_counter()
            signing_up = asyncio.Semaphore(SIGN_UP_CONCURRENCY)

            async def bounded_sign_up(number: int) -> tuple[str, dict[str, str]]:
                async with signing_up:
                    return await sign_up(client, number)

            buyers = await asyncio.gather(*(bounded_sign_up(number) for number in range(BUYERS)))
            print(f"registered and logged in {BUYERS} buyers in {time.perf_counter() - started:.1f}s")
            user_ids = [user_id for user_id, _ in buyers]
            headers = [auth for _, auth in buyers]
            # Open the pooled connections and let the order service fetch the JWKS before timing.
            await asyncio.gather(*(client.get("/api/v1/orders?limit=1", headers=auth) for auth in headers))
            store.append(await store_rate(mongo, f"{database}_store"))
            contention = partial(log.read, "order.placed")
            await run_both("gateway", db, gateway_placer(client, headers), gateway, "G", contention)
            store.append(await store_rate(mongo, f"{database}_store"))

        with tempfile.TemporaryDirectory() as data_dir:
            # A secret of its own, so none is generated (with a logged warning) under the temporary directory.
            token = SecretStr(secrets.token_urlsafe(32))
            settings = OrderSettings(
                _env_file=None,
                env="test",
                data_dir=Path(data_dir),
                internal_token=token,
                order_max_open_per_customer=int(FAIR_STOCK_UNLIMITED["ORDER_MAX_OPEN_PER_CUSTOMER"]),
                order_max_units_per_product=int(FAIR_STOCK_UNLIMITED["ORDER_MAX_UNITS_PER_PRODUCT"]),
            )
            ctx = OrderContext(mongo, db, settings)
            with Caught() as caught:
                await run_both(
                    "direct (place_order)", db, direct_placer(ctx, user_ids), direct, "D", caught.take
                )

        print("== gateway / direct ==")
        for workload in ("spread", "hot"):
            via, raw = gateway[workload], direct[workload]
            throughput = via.rate / raw.rate if raw.rate else float("nan")
            median = via.p(0.5) / raw.p(0.5)
            cost = f"{throughput:.2f}x throughput, {median:.2f}x median latency"
            print(f"{workload:<7} HTTP + services cost: {cost}")
        rate = statistics.fmean(store)
        ratio = gateway["hot"].rate / rate
        print(
            f"== hot checkouts through the gateway / the store's contended transactions: "
            f"{gateway['hot'].rate:.1f} / {rate:.1f} ({' and '.join(f'{r:.1f}' for r in store)}) "
            f"= {ratio:.2f}x (goal: at least {HOT_GOAL}x, {'met' if ratio >= HOT_GOAL else 'NOT met'})"
        )
    finally:
        if drop:
            await mongo.drop_database(database)
            await mongo.drop_database(f"{database}_store")
        await mongo.close()


def main() -> None:
    # A database of its own, so that with MONGODB_URL nothing but this throw-away one is touched.
    database = f"bench_orders_{secrets.token_hex(4)}"
    started = time.perf_counter()
    with running_stack({"MONGODB_DB": database, **STACK_ENV}) as stack:
        server = "embedded server" if stack.embedded else "MONGODB_URL"
        print(f"stack up in {time.perf_counter() - started:.1f}s ({server}, database {database})")
        print(f"{BUYERS} concurrent buyers; each run bounded by {TIME_BUDGET_SECONDS:.0f}s")
        # The order service logs each placed order's transaction figures at INFO.
        stack.stop_processes(["order"])
        stack.start_app("order", env={"LOG_LEVEL": "INFO"})
        assert stack.log_dir is not None
        order_log = stack.log_dir / "order.log"
        asyncio.run(
            measure(stack.gateway_url, stack.mongodb_url, database, order_log, drop=not stack.embedded)
        )
    print(f"total {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
