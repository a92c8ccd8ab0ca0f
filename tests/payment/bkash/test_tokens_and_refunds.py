"""The bKash provider against the fake: one token and its renewal, retries, refused credentials and
currencies, exact amounts, and refunds (once each, told apart by the refundTrxIds listed before)."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import replace

import httpx
import pytest
from bson import ObjectId
from pydantic import SecretStr

from devstack.stack import Stack
from services.payment.providers.base import PaymentRequest, ProviderError, RefundRequest
from services.payment.providers.bkash import BkashError, BkashProvider, from_bdt, to_bdt
from tests.builders import customer_headers, make_product, place_order
from tests.payment.bkash.conftest import (
    CALLBACK_PATH,
    PUBLIC_BASE_URL,
    FakeBkash,
    at_bkash,
    calls,
    fault,
    order_status,
    paid_checkout,
    pay,
    refund,
)

# --- tokens --------------------------------------------------------------------------------------


async def test_payments_share_one_token_and_a_401_regrants_once(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    product = await make_product(shop, admin, stock=50, price={"amount": 1000, "currency": "BDT"})
    # One buyer per order: a customer may only have a few unpaid orders open at once.
    buyers = [await customer_headers(shop) for _ in range(6)]
    orders = [(await place_order(shop, buyer, [(product["id"], 1)])).json() for buyer in buyers]
    assert (await pay(shop, buyers[5], orders[5]["id"])).status_code == 201  # the service holds a token
    before = await calls(fake)

    await fake.post("/__control/revoke-tokens")  # every token we hold is now refused with HTTP 401
    answers = await asyncio.gather(*(pay(shop, buyers[n], orders[n]["id"]) for n in range(3)))
    assert {answer.status_code for answer in answers} == {201}
    await fault(fake, "create", "http401")
    assert (await pay(shop, buyers[3], orders[3]["id"])).status_code == 201
    assert (await pay(shop, buyers[4], orders[4]["id"])).status_code == 201

    after = await calls(fake)
    assert after["grant"] - before["grant"] == 2  # one after the revocation, one after the 401


async def test_a_cold_provider_grants_once_for_many_calls_then_refreshes(
    bkash_provider: BkashProvider, fake: httpx.AsyncClient
) -> None:
    before = await calls(fake)
    requests = [
        PaymentRequest(str(ObjectId()), str(ObjectId()), 1000, "BDT", "k", PUBLIC_BASE_URL + CALLBACK_PATH)
        for _ in range(10)
    ]
    await fake.post("/__control/token-ttl", json={"seconds": 2})
    try:
        await asyncio.gather(*(bkash_provider.create_payment(request) for request in requests))
        assert (await calls(fake))["grant"] - before["grant"] == 1
        await asyncio.sleep(1.2)  # past the renewal point of a 2-second token
        await bkash_provider.create_payment(requests[0])
    finally:
        await fake.post("/__control/token-ttl", json={"seconds": 3600})
    after = await calls(fake)
    assert (after["grant"] - before["grant"], after.get("refresh", 0) - before.get("refresh", 0)) == (1, 1)

    await fake.post("/__control/revoke-tokens")  # ten calls at once meet HTTP 401: one new grant
    await asyncio.gather(*(bkash_provider.create_payment(request) for request in requests))
    assert (await calls(fake))["grant"] - after["grant"] == 1


async def test_status_queries_are_retried_through_maintenance(
    bkash_provider: BkashProvider, fake: httpx.AsyncClient
) -> None:
    request = PaymentRequest(
        str(ObjectId()), str(ObjectId()), 1000, "BDT", "k", PUBLIC_BASE_URL + CALLBACK_PATH
    )
    created = await bkash_provider.create_payment(request)
    before = await calls(fake)
    await fault(fake, "status", "maintenance")

    event = await bkash_provider.query_payment(created.provider_payment_id, request.payment_id)

    assert (event.kind, event.amount, event.reference) == ("payment_pending", 1000, request.payment_id)
    assert (await calls(fake))["status"] - before.get("status", 0) == 2


async def test_refused_credentials_and_currencies(
    bkash_fake: FakeBkash, stack: Stack, bkash_provider: BkashProvider, fake: httpx.AsyncClient
) -> None:
    request = PaymentRequest(
        str(ObjectId()), str(ObjectId()), 1000, "USD", "k", PUBLIC_BASE_URL + CALLBACK_PATH
    )
    with pytest.raises(ProviderError) as refused:
        await bkash_provider.create_payment(request)
    assert not refused.value.retryable
    wrong = BkashProvider(
        bkash_fake.settings(stack.settings.data_dir, bkash_password=SecretStr("not-" + secrets.token_hex(8)))
    )
    try:
        with pytest.raises(BkashError) as denied:
            await wrong.create_payment(PaymentRequest(**{**request.__dict__, "currency": "BDT"}))
        assert (denied.value.code, denied.value.retryable) == ("2001", False)
    finally:
        await wrong.aclose()


def test_amounts_are_exact_decimal_strings() -> None:
    assert [to_bdt(value) for value in (123450, 5, 100)] == ["1234.50", "0.05", "1.00"]
    for nothing in (0, -1):  # bKash is never asked to move nothing (zero-total orders are refused)
        with pytest.raises(BkashError):
            to_bdt(nothing)
    assert [from_bdt(value) for value in ("100", "600.00", "1234.5", "0.05")] == [10000, 60000, 123450, 5]
    for bad in ("1.234", "abc", "-1", "NaN", "Infinity", ""):
        with pytest.raises(BkashError):
            from_bdt(bad)


async def test_partial_and_full_refunds(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await paid_checkout(shop, fake, admin)
    payment_id = flow.payment["id"]

    partial = await refund(shop, admin, payment_id, {"amount": 1000, "reason": "scratched"}, "rf-1")
    assert partial.status_code == 201, partial.text
    assert (partial.json()["status"], partial.json()["amount"]["amount"]) == ("succeeded", 1000)
    refunds = (await at_bkash(fake, flow.bkash_id))["refunds"]
    assert [(r["amount"], r["sku"], r["reason"]) for r in refunds] == [
        ("10.00", partial.json()["id"], "scratched")
    ]
    payment = (await shop.get(f"/api/v1/payments/{payment_id}", headers=admin)).json()
    assert (payment["status"], payment["refunded"]["amount"]) == ("partially_refunded", 1000)

    before = await calls(fake)
    replay = await refund(shop, admin, payment_id, {"amount": 1000, "reason": "scratched"}, "rf-1")
    assert (replay.status_code, replay.json()["id"]) == (201, partial.json()["id"])
    too_much = await refund(shop, admin, payment_id, {"amount": 4101, "reason": "oops"}, "rf-2")
    assert too_much.status_code == 422
    assert too_much.json()["type"] == "/problems/refund-exceeds-refundable"
    assert await calls(fake) == before  # neither reached bKash

    full = await refund(shop, admin, payment_id, {"reason": "returned"}, "rf-3")
    assert (full.status_code, full.json()["status"], full.json()["amount"]["amount"]) == (
        201,
        "succeeded",
        4100,
    )
    at_provider = await at_bkash(fake, flow.bkash_id)
    assert ([r["amount"] for r in at_provider["refunds"]], at_provider["refundable"]) == (
        ["10.00", "41.00"],
        "0.00",
    )
    payment = (await shop.get(f"/api/v1/payments/{payment_id}", headers=admin)).json()
    assert (payment["status"], payment["refunded"]["amount"]) == ("refunded", 5100)
    assert await order_status(shop, flow) == "refunded"


async def test_a_refund_whose_listing_was_recorded_is_looked_up_not_sent_again(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], bkash_provider: BkashProvider
) -> None:
    flow = await paid_checkout(shop, fake, admin)
    listings: list[frozenset[str]] = []

    async def record(listed: frozenset[str]) -> None:
        listings.append(listed)

    request = RefundRequest(
        str(ObjectId()), flow.bkash_id, 500, "BDT", "goodwill", "refund-x", record_listing=record
    )
    first = await bkash_provider.refund(request)
    assert (first.state, listings) == ("succeeded", [frozenset()])  # recorded before it was sent

    # e.g. the answer was lost and the call repeated: found as the new refundTrxId of its amount.
    sent = replace(request, listed_before=listings[0], record_listing=None)
    assert await bkash_provider.refund(sent) == first
    assert len((await at_bkash(fake, flow.bkash_id))["refunds"]) == 1
    assert await bkash_provider.query_refund(sent, None) == first
    assert await bkash_provider.query_refund(sent, first.provider_refund_id) == first

    # Nothing new of its amount, or only what another refund of ours owns: it never happened.
    never = RefundRequest(
        str(ObjectId()),
        flow.bkash_id,
        500,
        "BDT",
        "never sent",
        "refund-y",
        listed_before=frozenset({first.provider_refund_id}),
    )
    assert (await bkash_provider.query_refund(never, None)).state == "failed"
    owned = replace(sent, owned_elsewhere=frozenset({first.provider_refund_id}))
    assert (await bkash_provider.query_refund(owned, None)).state == "failed"
    other_amount = replace(sent, amount=400)
    assert (await bkash_provider.query_refund(other_amount, None)).state == "failed"
    # A refund recorded before listings were kept cannot be told apart: left pending for a person.
    assert (await bkash_provider.query_refund(replace(sent, listed_before=None), None)).state == "pending"

    with pytest.raises(BkashError) as over:
        await bkash_provider.refund(
            RefundRequest(str(ObjectId()), flow.bkash_id, 5000, "BDT", "x", "refund-z")
        )
    assert (over.value.code, over.value.retryable) == ("2026", False)
