"""Payment attempts of one order (sandbox, through the gateway): a pending payment is reused rather
than a second provider payment started, even by concurrent requests, and an order may start only
PAYMENT_MAX_ATTEMPTS_PER_ORDER provider payments."""

from __future__ import annotations

from datetime import timedelta

import httpx
from bson import ObjectId

from shared.clock import utcnow
from shared.db import Database
from tests.payment.sandbox import complete, ordered, pay, stored, together

DEFAULT_MAX_ATTEMPTS = 5


async def provider_payments(db: Database, order_id: str) -> int:
    """Sandbox payments started at the provider for the order (what a real provider would bill)."""
    payment_ids = [
        str(doc["_id"]) async for doc in db.payments.find({"order_id": ObjectId(order_id)}, {"_id": 1})
    ]
    return await db.sandbox_ledger.count_documents({"payment_id": {"$in": payment_ids}})


async def test_a_second_attempt_with_the_same_provider_returns_the_pending_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    first = await pay(gateway, buyer, order["id"])
    assert first.status_code == 201, first.text
    again = await pay(gateway, buyer, order["id"])
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["redirect_url"] == first.json()["redirect_url"]
    assert again.headers["location"] == f"/api/v1/payments/{first.json()['id']}"
    assert "idempotent-replayed" not in again.headers
    assert await db.payments.count_documents({"order_id": ObjectId(order["id"])}) == 1
    assert await provider_payments(db, order["id"]) == 1
    assert (await stored(db, "payment_attempts", order["id"]))["count"] == 1


async def test_concurrent_attempts_with_different_keys_start_one_provider_payment(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    for _ in range(5):
        order, _, buyer = await ordered(gateway, admin)
        responses = await together(*(pay(gateway, buyer, order["id"]) for _ in range(8)))
        assert sorted(response.status_code for response in responses) == [200] * 7 + [201], [
            response.text for response in responses
        ]
        assert len({response.json()["id"] for response in responses}) == 1
        assert all(response.json()["redirect_url"] for response in responses)  # all can pay it
        assert await db.payments.count_documents({"order_id": ObjectId(order["id"])}) == 1
        assert await provider_payments(db, order["id"]) == 1


async def test_attempts_are_capped_per_order(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    keys = [f"attempt-{n}" for n in range(DEFAULT_MAX_ATTEMPTS)]
    for key in keys:  # each declined at the provider, so the next one is a new provider payment
        started = await pay(gateway, buyer, order["id"], key=key)
        assert started.status_code == 201, started.text
        assert (await complete(gateway, buyer, started.json()["id"], "failed")).json()["status"] == "failed"

    refused = await pay(gateway, buyer, order["id"])
    assert refused.status_code == 409
    problem = refused.json()
    assert (problem["type"], problem["limit"]) == (
        "/problems/payment-attempts-exhausted",
        DEFAULT_MAX_ATTEMPTS,
    )
    assert await db.payments.count_documents({"order_id": ObjectId(order["id"])}) == DEFAULT_MAX_ATTEMPTS
    assert await provider_payments(db, order["id"]) == DEFAULT_MAX_ATTEMPTS
    # A retry of an attempt that was made still answers what it did.
    replay = await pay(gateway, buyer, order["id"], key=keys[0])
    assert (replay.status_code, replay.headers["idempotent-replayed"]) == (201, "true")


async def test_concurrent_attempts_never_pass_the_cap(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    for _ in range(DEFAULT_MAX_ATTEMPTS - 1):
        payment = (await pay(gateway, buyer, order["id"])).json()
        await complete(gateway, buyer, payment["id"], "failed")
    # One attempt is left: racing requests share it (one starts it, the others get it back).
    responses = await together(*(pay(gateway, buyer, order["id"]) for _ in range(6)))
    assert sorted(response.status_code for response in responses) == [200] * 5 + [201]
    last = responses[0].json()["id"]
    await complete(gateway, buyer, last, "failed")
    refused = await together(*(pay(gateway, buyer, order["id"]) for _ in range(4)))
    assert {response.status_code for response in refused} == {409}
    assert await db.payments.count_documents({"order_id": ObjectId(order["id"])}) == DEFAULT_MAX_ATTEMPTS


async def test_a_payment_left_unstarted_by_a_dead_process_is_abandoned(
    gateway: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    first = (await pay(gateway, buyer, order["id"])).json()
    # As if the process had died between claiming the attempt and the provider's answer, long ago.
    await db.payments.update_one(
        {"_id": ObjectId(first["id"])},
        {"$set": {"provider_payment_id": None, "created_at": utcnow() - timedelta(hours=1)}},
    )
    second = await pay(gateway, buyer, order["id"])
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first["id"]
    abandoned = await stored(db, "payments", first["id"])
    assert (abandoned["status"], abandoned["failure_reason"]) == ("failed", "abandoned")
    assert (await complete(gateway, buyer, second.json()["id"])).json()["status"] == "succeeded"
