"""The restore drill's shop: customers ordering, paying in the sandbox and cancelling, an admin
refunding with restock and adjusting stock, every write recorded with when it was sent and when it
was acknowledged, so the drill can tell what a backup taken meanwhile must and must not contain."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from shared.clock import utcnow
from tests.builders import Account, bearer, login, make_product, place_order, register
from tests.payment.sandbox import complete, pay, refund

STARTING_STOCK = 200
PRODUCT_PRICE = 1500


@dataclass
class Shopper:
    account: Account
    headers: dict[str, str]


@dataclass
class Write:
    """One acknowledged write: what it was, when it was sent and when its answer arrived."""

    kind: str  # checkout, payment-start, payment, cancel, refund, adjustment
    sent_at: datetime
    acked_at: datetime
    ids: dict[str, str]  # order_id, payment_id, refund_id, product_id, adjustment_id
    by: Shopper | None = None


@dataclass
class DrillShop:
    http: httpx.AsyncClient
    admin: dict[str, str]
    products: list[str]
    shoppers: list[Shopper]
    writes: list[Write] = field(default_factory=list)
    paid: asyncio.Queue[Write] = field(default_factory=asyncio.Queue)
    rng: random.Random = field(default_factory=lambda: random.Random(14))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def of_kind(self, kind: str) -> list[Write]:
        return [write for write in self.writes if write.kind == kind]

    async def wait_for(self, kind: str, count: int) -> None:
        """Until `count` writes of `kind` have been acknowledged."""
        async with self.changed:
            await self.changed.wait_for(lambda: len(self.of_kind(kind)) >= count)

    async def _send(self, kind: str, call: Any, expected: int, **ids: str) -> tuple[Write, dict[str, Any]]:
        sent_at = utcnow()
        response: httpx.Response = await call
        assert response.status_code == expected, (kind, response.status_code, response.text)
        write = Write(kind, sent_at, utcnow(), ids)
        self.writes.append(write)
        async with self.changed:
            self.changed.notify_all()
        return write, response.json()

    async def checkout(self, shopper: Shopper) -> Write:
        lines = self.rng.sample(self.products, self.rng.choice((1, 2)))
        items = [(product_id, self.rng.choice((1, 2))) for product_id in lines]
        write, order = await self._send("checkout", place_order(self.http, shopper.headers, items), 201)
        write.ids["order_id"] = order["id"]
        write.by = shopper
        return write

    async def pay(self, shopper: Shopper, order_id: str) -> None:
        _, payment = await self._send("payment-start", pay(self.http, shopper.headers, order_id), 201)
        write, settled = await self._send(
            "payment", complete(self.http, shopper.headers, payment["id"]), 200, order_id=order_id
        )
        assert settled["status"] == "succeeded", settled
        write.ids["payment_id"] = payment["id"]
        await self.paid.put(write)

    async def cancel(self, shopper: Shopper, order_id: str) -> None:
        call = self.http.post(f"/api/v1/orders/{order_id}/cancel", headers=shopper.headers)
        await self._send("cancel", call, 200, order_id=order_id)

    async def shop(self, shopper: Shopper, rounds: int, offset: int) -> None:
        """Order `rounds` times; pay for one order in three, cancel one, leave one unpaid."""
        for round_ in range(rounds):
            order_id = (await self.checkout(shopper)).ids["order_id"]
            choice = (offset + round_) % 3
            if choice == 0:
                await self.pay(shopper, order_id)
            elif choice == 1:
                await self.cancel(shopper, order_id)

    async def refund_with_restock(self, paid: Write) -> None:
        order = (await self.http.get(f"/api/v1/orders/{paid.ids['order_id']}", headers=self.admin)).json()
        line = order["items"][0]
        body = {"items": [{"product_id": line["product_id"], "quantity": 1}], "reason": "drill: damaged"}
        write, made = await self._send(
            "refund", refund(self.http, self.admin, paid.ids["payment_id"], body), 201
        )
        write.ids |= {"refund_id": made["id"], "order_id": paid.ids["order_id"]}

    async def adjust(self) -> Write:
        product_id = self.rng.choice(self.products)
        delta = self.rng.choice((5, -2))
        call = self.http.post(
            f"/api/v1/products/{product_id}/stock-adjustments",
            json={"delta": delta, "reason": "drill: recount"},
            headers=self.admin,
        )
        write, result = await self._send("adjustment", call, 200, product_id=product_id)
        write.ids["adjustment_id"] = result["adjustment"]["id"]
        return write

    async def administer(self, stop: asyncio.Event) -> None:
        """Refund every other paid order with one unit back in stock, and adjust stock now and then."""
        count = 0
        while not (stop.is_set() and self.paid.empty()):
            try:
                paid = await asyncio.wait_for(self.paid.get(), timeout=0.2)
            except TimeoutError:
                continue
            count += 1
            if count % 2:
                await self.refund_with_restock(paid)
            await self.adjust()


async def open_drill_shop(
    http: httpx.AsyncClient, admin: dict[str, str], products: int, shoppers: int
) -> DrillShop:
    made = [
        await make_product(
            http, admin, stock=STARTING_STOCK, price={"amount": PRODUCT_PRICE, "currency": "BDT"}
        )
        for _ in range(products)
    ]

    async def shopper() -> Shopper:
        account = await register(http, name="Drill Shopper")
        return Shopper(account, bearer(await login(http, account.email, account.password)))

    people = list(await asyncio.gather(*(shopper() for _ in range(shoppers))))
    return DrillShop(http, admin, [product["id"] for product in made], people)
