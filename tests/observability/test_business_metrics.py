"""Business and saturation metrics move when real things happen through the gateway: every action
below goes through the session stack's public port, and each service's /metrics is read before
and after (docs/observability.md lists the names)."""

from __future__ import annotations

import uuid

import httpx

from devstack.stack import Stack
from tests.builders import customer_headers, login, make_product, place_order, register
from tests.observability.scrape import moved, scrape
from tests.payment.sandbox import complete, pay, refund


def metrics_of(stack: Stack, service: str) -> str:
    return f"{stack.url_of(service)}/metrics"


async def test_checkout_outcomes_and_order_counts(
    gateway: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    product = await make_product(gateway, admin, stock=3)
    buyer = await customer_headers(gateway)
    before = await scrape(metrics_of(stack, "order"))

    key = uuid.uuid4().hex
    placed = await place_order(gateway, buyer, [(product["id"], 1)], key=key)
    assert placed.status_code == 201, placed.text
    assert (await place_order(gateway, buyer, [(product["id"], 1)], key=key)).status_code == 201
    assert (await place_order(gateway, buyer, [(product["id"], 5)])).status_code == 409
    cancelled = await gateway.post(f"/api/v1/orders/{placed.json()['id']}/cancel", headers=buyer)
    assert cancelled.status_code == 200, cancelled.text

    after = await scrape(metrics_of(stack, "order"))
    assert moved(before, after, "checkout_outcomes_total", outcome="placed") == 1
    assert moved(before, after, "checkout_outcomes_total", outcome="idempotent_replay") == 1
    assert moved(before, after, "checkout_outcomes_total", outcome="insufficient_stock") == 1
    assert moved(before, after, "orders_placed_total") == 1
    assert moved(before, after, "orders_cancelled_total", by="customer") == 1
    # The checkout and the cancellation each committed one transaction.
    assert moved(before, after, "db_transactions_total", service="order", outcome="committed") >= 2
    assert after.get("mongodb_pool_connections_open", service="order") >= 1
    # The reaper sweeps twice a second in the tests: its passes are counted.
    assert after.get("periodic_job_runs_total", service="order", job="order.expiry_sweep", outcome="ok") > 0


async def test_payment_settlement_refund_and_restock(
    gateway: httpx.AsyncClient, admin: dict[str, str], stack: Stack
) -> None:
    product = await make_product(gateway, admin, stock=10, price={"amount": 700, "currency": "BDT"})
    buyer = await customer_headers(gateway)
    order = (await place_order(gateway, buyer, [(product["id"], 3)])).json()
    before = await scrape(metrics_of(stack, "payment"))

    payment = (await pay(gateway, buyer, order["id"])).json()
    assert (await complete(gateway, buyer, payment["id"])).json()["status"] == "succeeded"
    lines = [{"product_id": product["id"], "quantity": 2}]
    returned = await refund(gateway, admin, payment["id"], {"items": lines, "reason": "x"})
    assert returned.status_code == 201, returned.text
    assert returned.json()["status"] == "succeeded"

    after = await scrape(metrics_of(stack, "payment"))
    assert moved(before, after, "payments_total", provider="sandbox", outcome="started") == 1
    assert moved(before, after, "payments_total", provider="sandbox", outcome="succeeded") == 1
    applied = {"provider": "sandbox", "source": "webhook", "result": "applied"}
    assert moved(before, after, "payment_settlements_total", **applied) == 1
    assert moved(before, after, "payment_settlement_seconds_count", provider="sandbox", source="webhook") == 1
    call = {"provider": "sandbox", "operation": "create_payment", "outcome": "ok"}
    assert moved(before, after, "payment_provider_calls_total", **call) == 1
    assert moved(before, after, "refunds_total", kind="manual", outcome="succeeded") == 1
    assert moved(before, after, "refund_restocked_units_total") == 2


async def test_login_outcomes_and_the_hashing_queue(gateway: httpx.AsyncClient, stack: Stack) -> None:
    account = await register(gateway)
    before = await scrape(metrics_of(stack, "auth"))
    wrong_password = {"email": account.email, "password": "not it at all"}
    wrong = await gateway.post("/api/v1/auth/login", json=wrong_password)
    assert wrong.status_code == 401
    await login(gateway, account.email, account.password)

    after = await scrape(metrics_of(stack, "auth"))
    assert moved(before, after, "auth_login_attempts_total", outcome="failed") == 1
    assert moved(before, after, "auth_login_attempts_total", outcome="succeeded") == 1
    # The new session was stored in a transaction.
    assert moved(before, after, "db_transactions_total", service="auth", outcome="committed") >= 1
    # Nothing hashes between requests: the queue is exported, and empty.
    assert "auth_password_hash_queue" in after.names()
    assert after.get("auth_password_hash_queue", state="running") == 0
    assert after.get("auth_password_hash_queue", state="waiting") == 0
