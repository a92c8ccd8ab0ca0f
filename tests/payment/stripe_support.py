"""Helpers for the Stripe tests: the fake's test controls, purchases paid with Stripe through a
gateway in front of a Stripe-enabled payment service, and in-process payment contexts (to drive
reconciliation). The fixtures that start the fake and that service are in conftest.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import stripe
from bson import ObjectId

from devstack.stack import Stack
from services.payment.context import PaymentContext
from services.payment.providers.stripe import StripeProvider
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.db import Database, Document, MongoClient
from tests.builders import customer_headers, make_product, place_order

# Built at run time so that the secret scanner never sees a key-shaped literal.
SECRET_KEY = "sk_test_" + "x" * 24  # pragma: allowlist secret
WEBHOOK_SECRET = "whsec_" + "y" * 32  # pragma: allowlist secret
WEBHOOK_PATH = "/api/v1/payments/webhooks/stripe"
PRICE = 2500


@dataclass(frozen=True)
class Fake:
    """The fake's test controls (`/__control/...`)."""

    client: httpx.AsyncClient

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self.client.request(method, f"/__control/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()

    async def configure(self, **settings: Any) -> None:
        await self.call("POST", "config", settings)

    async def confirm(self, intent_id: str, outcome: str = "succeeded", *, webhook: bool = True) -> Any:
        return await self.call(
            "POST", f"payment_intents/{intent_id}/confirm", {"outcome": outcome, "webhook": webhook}
        )

    async def deliver(self, **body: Any) -> list[int | None]:
        statuses: list[int | None] = (await self.call("POST", "deliver", body))["statuses"]
        return statuses

    async def fault(self, mode: str, count: int, **spec: Any) -> None:
        await self.call("POST", "faults", {"mode": mode, "count": count, **spec})

    async def requests(self, key: str) -> list[dict[str, Any]]:
        return [entry for entry in await self.call("GET", "requests") if entry["idempotency_key"] == key]

    async def events_about(self, object_id: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = await self.call("GET", "events")
        return [event for event in events if event["data"]["object"].get("id") == object_id]


def provider_settings(stack: Stack, fake_url: str) -> PaymentSettings:
    return PaymentSettings(
        _env_file=None,
        env="test",
        data_dir=stack.settings.data_dir,
        payment_providers=["stripe"],
        reconcile_after_seconds=1,
        stripe_api_base=fake_url,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        provider_timeout_seconds=2,
    )


# --- purchases -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    order: dict[str, Any]
    product: dict[str, Any]
    buyer: dict[str, str]


async def purchase(
    shop: httpx.AsyncClient,
    admin: dict[str, str],
    quantity: int = 2,
    price: dict[str, Any] | None = None,
) -> Purchase:
    """A new customer's order of `quantity` units of a new product (PRICE in USD unless `price`)."""
    price = price or {"amount": PRICE, "currency": "USD"}
    product = await make_product(shop, admin, stock=10, price=price)
    buyer = await customer_headers(shop)
    placed = await place_order(shop, buyer, [(product["id"], quantity)])
    assert placed.status_code == 201, placed.text
    return Purchase(placed.json(), product, buyer)


async def pay(shop: httpx.AsyncClient, bought: Purchase, key: str | None = None) -> httpx.Response:
    return await shop.post(
        "/api/v1/payments",
        json={"order_id": bought.order["id"], "provider": "stripe"},
        headers={**bought.buyer, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def started(shop: httpx.AsyncClient, bought: Purchase) -> tuple[dict[str, Any], str]:
    """A pending Stripe payment and its PaymentIntent id."""
    response = await pay(shop, bought)
    assert response.status_code == 201, response.text
    payment: dict[str, Any] = response.json()
    return payment, payment["client_secret"].split("_secret_")[0]


async def stored_payment(db: Database, payment_id: str) -> Document:
    doc = await db.payments.find_one({"_id": ObjectId(payment_id)})
    assert doc is not None
    return doc


async def order_status(db: Database, order_id: str) -> str:
    doc = await db.orders.find_one({"_id": ObjectId(order_id)})
    assert doc is not None
    status: str = doc["status"]
    return status


def statuses(doc: Document) -> list[str]:
    return [entry["status"] for entry in doc["history"]]


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10) -> None:
    for _ in range(int(seconds * 10)):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the condition did not become true in time")


async def paid_purchase(
    shop: httpx.AsyncClient,
    admin: dict[str, str],
    fake: Fake,
    quantity: int = 3,
    price: dict[str, Any] | None = None,
) -> tuple[Purchase, dict[str, Any], str]:
    bought = await purchase(shop, admin, quantity, price)
    payment, intent = await started(shop, bought)
    assert (await fake.confirm(intent))["statuses"] == [200]
    return bought, payment, intent


async def refund(
    shop: httpx.AsyncClient, admin: dict[str, str], payment_id: str, key: str | None = None, **body: Any
) -> httpx.Response:
    return await shop.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json={"reason": "returned by the customer", **body},
        headers={**admin, "Idempotency-Key": key or uuid.uuid4().hex},
    )


@asynccontextmanager
async def dashboard(fake_url: str) -> AsyncIterator[stripe.StripeClient]:
    """Stripe as the merchant reaches it outside the shop (its dashboard, another integration)."""
    http = stripe.HTTPXClient()
    try:
        yield stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake_url}, http_client=http)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]


def stripe_context(
    stack: Stack, client: MongoClient, database_name: str, fake_url: str, provider: StripeProvider
) -> PaymentContext:
    """A payment service's context in this process, with `provider` (reconciling after 1 s)."""
    settings = provider_settings(stack, fake_url)
    return PaymentContext(client, client[database_name], settings, {"stripe": provider})


async def backdate(db: Database, payment_id: str, seconds: float = 5) -> None:
    """Make a payment old enough for reconciliation (RECONCILE_AFTER_SECONDS is 1 in test contexts)."""
    earlier = utcnow() - timedelta(seconds=seconds)
    await db.payments.update_one({"_id": ObjectId(payment_id)}, {"$set": {"created_at": earlier}})
