"""Builders for payments with the sandbox provider through the main stack's gateway, and payment
contexts run in the test process (to drive settlement and reconciliation with chosen providers)."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any, NamedTuple, TypeVar

import httpx
from bson import ObjectId

from devstack.stack import Stack
from services.payment.context import PaymentContext
from services.payment.metrics import PaymentMetrics
from services.payment.providers.base import PaymentProvider
from services.payment.providers.sandbox import SandboxProvider
from services.payment.settings import PaymentSettings
from shared.db import Database, Document, MongoClient
from tests.builders import customer_headers, make_product, place_order

T = TypeVar("T")


async def together(*calls: Awaitable[T]) -> list[T]:
    """Run the calls at once: each waits at one barrier until all are ready to go."""
    barrier = asyncio.Barrier(len(calls))

    async def at_barrier(call: Awaitable[T]) -> T:
        await barrier.wait()
        return await call

    return list(await asyncio.gather(*(at_barrier(call) for call in calls)))


class Ordered(NamedTuple):
    order: dict[str, Any]
    product: dict[str, Any]
    buyer: dict[str, str]


async def ordered(
    gateway: httpx.AsyncClient, admin: dict[str, str], quantity: int = 2, price: int = 2500
) -> Ordered:
    """A new customer's unpaid order of `quantity` units of a new product (10 in stock)."""
    product = await make_product(gateway, admin, stock=10, price={"amount": price, "currency": "BDT"})
    buyer = await customer_headers(gateway)
    placed = await place_order(gateway, buyer, [(product["id"], quantity)])
    assert placed.status_code == 201, placed.text
    return Ordered(placed.json(), product, buyer)


async def pay(
    gateway: httpx.AsyncClient, buyer: Mapping[str, str], order_id: str, key: str | None = None
) -> httpx.Response:
    return await gateway.post(
        "/api/v1/payments",
        json={"order_id": order_id, "provider": "sandbox"},
        headers={**buyer, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def complete(
    gateway: httpx.AsyncClient, caller: Mapping[str, str], payment_id: str, outcome: str = "succeeded"
) -> httpx.Response:
    """The shopper (or an admin) finishing a sandbox payment."""
    return await gateway.post(
        f"/api/v1/payments/sandbox/{payment_id}/complete", json={"outcome": outcome}, headers=dict(caller)
    )


async def refund(
    gateway: httpx.AsyncClient,
    admin: Mapping[str, str],
    payment_id: str,
    body: dict[str, Any],
    key: str | None = None,
) -> httpx.Response:
    return await gateway.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json=body,
        headers={**admin, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def stored(db: Database, collection: str, doc_id: str | ObjectId) -> Document:
    doc = await db[collection].find_one({"_id": ObjectId(doc_id)})
    assert doc is not None, f"no {collection} document {doc_id}"
    return doc


def context(
    stack: Stack,
    client: MongoClient,
    database_name: str,
    providers: Mapping[str, PaymentProvider] | None = None,
    **settings: Any,
) -> PaymentContext:
    """A payment context in this process on the stack's database: the sandbox unless told otherwise."""
    db = client[database_name]
    values: dict[str, Any] = {"reconcile_after_seconds": 1, **settings}
    payment_settings = PaymentSettings(_env_file=None, env="test", data_dir=stack.settings.data_dir, **values)
    chosen = providers if providers is not None else {"sandbox": SandboxProvider(db, "http://127.0.0.1")}
    return PaymentContext(client, db, payment_settings, dict(chosen))


def with_providers(ctx: PaymentContext, providers: Mapping[str, PaymentProvider]) -> PaymentContext:
    """The same context with other providers (and metrics of its own)."""
    return dataclasses.replace(ctx, providers=dict(providers), metrics=PaymentMetrics())
