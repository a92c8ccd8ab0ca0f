"""bKash through the gateway, against a local fake bKash (tests/fakes/bkash_server.py).

The shopper's browser is played by hand: the fake's "bKash page" answers a redirect to our callback
URL (built from PUBLIC_BASE_URL, which is not the test gateway), and the test follows it on the
provider stack's gateway. Money moves only when our service executes.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from bson import ObjectId
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from devstack.stack import Stack
from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from services.payment.providers.base import PaymentRequest, ProviderError, RefundRequest
from services.payment.providers.bkash import BkashError, BkashProvider, from_bdt, to_bdt
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.db import Database, MongoClient
from tests.builders import customer_headers, make_product, place_order
from tests.payment.conftest import ProviderStack, fake_server, provider_stack

PUBLIC_BASE_URL = "https://shop.example.test"
CALLBACK_PATH = "/api/v1/payments/callbacks/bkash"
INSUFFICIENT_WALLET = "01823074817"


@dataclass(frozen=True)
class FakeBkash:
    url: str
    app_key: str
    app_secret: str
    username: str
    password: str

    def settings(self, data_dir: Path, **overrides: Any) -> PaymentSettings:
        """Settings for a provider in the test process, talking to this fake."""
        values: dict[str, Any] = {
            "bkash_base_url": self.url + "/v1.2.0-beta/tokenized/checkout",
            "bkash_refund_base_url": self.url + "/v2/tokenized-checkout",
            "bkash_app_key": self.app_key,
            "bkash_app_secret": SecretStr(self.app_secret),
            "bkash_username": self.username,
            "bkash_password": SecretStr(self.password),
            "provider_timeout_seconds": 2,
        }
        return PaymentSettings(_env_file=None, env="test", data_dir=data_dir, **{**values, **overrides})


@pytest.fixture(scope="module")
def bkash_fake(provider_root: Path) -> Iterator[FakeBkash]:
    # Fresh credentials per run, made at runtime: nothing secret-looking is written in the tree.
    fake = FakeBkash(
        url="",
        app_key="app-" + secrets.token_hex(8),
        app_secret=secrets.token_urlsafe(24),
        username="merchant-" + secrets.token_hex(4),
        password=secrets.token_urlsafe(16),
    )
    # `--name=value`: a random secret may start with "-", which argparse would take for an option.
    args = [f"--app-key={fake.app_key}", f"--app-secret={fake.app_secret}"]
    args += [f"--username={fake.username}", f"--password={fake.password}"]
    with fake_server("tests.fakes.bkash_server", *args, log_dir=provider_root / "logs") as url:
        yield FakeBkash(url, fake.app_key, fake.app_secret, fake.username, fake.password)


@pytest.fixture(scope="module")
def bkash_stack(stack: Stack, provider_root: Path, bkash_fake: FakeBkash) -> Iterator[ProviderStack]:
    env = {
        "PAYMENT_PROVIDERS": "sandbox,bkash",
        "BKASH_BASE_URL": bkash_fake.url + "/v1.2.0-beta/tokenized/checkout",
        "BKASH_REFUND_BASE_URL": bkash_fake.url + "/v2/tokenized-checkout",
        "BKASH_APP_KEY": bkash_fake.app_key,
        "BKASH_APP_SECRET": bkash_fake.app_secret,
        "BKASH_USERNAME": bkash_fake.username,
        "BKASH_PASSWORD": bkash_fake.password,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "PROVIDER_TIMEOUT_SECONDS": "2",
    }
    with provider_stack(stack, provider_root, env) as running:
        yield running


@pytest.fixture(scope="module")
async def shop(bkash_stack: ProviderStack) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of the bKash-enabled payment service."""
    async with httpx.AsyncClient(base_url=bkash_stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def fake(bkash_fake: FakeBkash) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bkash_fake.url, timeout=30) as client:
        yield client


@pytest.fixture
async def bkash_provider(bkash_fake: FakeBkash, stack: Stack) -> AsyncIterator[BkashProvider]:
    """A provider of its own in the test process (cold token cache)."""
    provider = BkashProvider(bkash_fake.settings(stack.settings.data_dir))
    yield provider
    await provider.aclose()


@pytest.fixture
async def reconciler(
    stack: Stack, database_name: str, bkash_fake: FakeBkash
) -> AsyncIterator[PaymentContext]:
    client: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    settings = bkash_fake.settings(
        stack.settings.data_dir, reconcile_after_seconds=1, reconcile_batch_size=1000
    )
    provider = BkashProvider(settings)
    yield PaymentContext(client, client[database_name], settings, {"bkash": provider})
    await provider.aclose()
    await client.close()


# --- builders ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkout:
    order: dict[str, Any]
    payment: dict[str, Any]
    buyer: dict[str, str]
    product: dict[str, Any]

    @property
    def bkash_id(self) -> str:
        redirect_url: str = self.payment["redirect_url"]
        return parse_qs(urlsplit(redirect_url).query)["paymentID"][0]


async def checkout(shop: httpx.AsyncClient, admin: dict[str, str]) -> Checkout:
    """A new buyer's order of 2 x 25.50 BDT, with a bKash payment started for it."""
    product = await make_product(shop, admin, stock=10, price={"amount": 2550, "currency": "BDT"})
    buyer = await customer_headers(shop)
    order = (await place_order(shop, buyer, [(product["id"], 2)])).json()
    response = await pay(shop, buyer, order["id"])
    assert response.status_code == 201, response.text
    return Checkout(order, response.json(), buyer, product)


async def pay(shop: httpx.AsyncClient, buyer: dict[str, str], order_id: str) -> httpx.Response:
    return await shop.post(
        "/api/v1/payments",
        json={"order_id": order_id, "provider": "bkash"},
        headers={**buyer, "Idempotency-Key": uuid.uuid4().hex},
    )


async def shopper(fake: httpx.AsyncClient, redirect_url: str, choice: str, wallet: str | None = None) -> str:
    """The shopper on the bKash page: open it, choose; returns where bKash sends the browser."""
    page = await fake.get(redirect_url)
    assert page.status_code == 200, page.text
    link = urlsplit(redirect_url)
    query = {**{k: v[0] for k, v in parse_qs(link.query).items()}, "choice": choice}
    if wallet:
        query["wallet"] = wallet
    decided = await fake.get(f"{link.path}decide?{urlencode(query)}")
    assert decided.status_code == 302, decided.text
    location = decided.headers["location"]
    assert location.startswith(PUBLIC_BASE_URL + CALLBACK_PATH + "?")
    return location


async def return_to_shop(shop: httpx.AsyncClient, location: str, *, json: bool = False) -> httpx.Response:
    """The browser following bKash's redirect, on the test gateway instead of PUBLIC_BASE_URL."""
    target = urlsplit(location)
    headers = {"Accept": "application/json"} if json else {"Accept": "text/html"}
    return await shop.get(f"{target.path}?{target.query}", headers=headers)


def forged(bkash_id: str, status: str) -> str:
    return f"{PUBLIC_BASE_URL}{CALLBACK_PATH}?{urlencode({'paymentID': bkash_id, 'status': status})}"


def result_of(response: httpx.Response) -> dict[str, str]:
    """The SPA result page our callback redirects to, as its query."""
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(PUBLIC_BASE_URL + "/payment-result?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def at_bkash(fake: httpx.AsyncClient, bkash_id: str) -> dict[str, Any]:
    response = await fake.get(f"/__control/payments/{bkash_id}")
    assert response.status_code == 200
    state: dict[str, Any] = response.json()
    return state


async def calls(fake: httpx.AsyncClient) -> dict[str, int]:
    counts: dict[str, int] = (await fake.get("/__control/calls")).json()
    return counts


async def fault(
    fake: httpx.AsyncClient, endpoint: str, kind: str, count: int = 1, seconds: float = 0
) -> None:
    body = {"endpoint": endpoint, "kind": kind, "count": count, "seconds": seconds}
    assert (await fake.post("/__control/faults", json=body)).status_code == 200


async def stored_payment(db: Database, payment_id: str) -> dict[str, Any]:
    payment = await db.payments.find_one({"_id": ObjectId(payment_id)})
    assert payment is not None
    return payment


async def order_status(shop: httpx.AsyncClient, flow: Checkout) -> str:
    status: str = (await shop.get(f"/api/v1/orders/{flow.order['id']}", headers=flow.buyer)).json()["status"]
    return status


async def paid_checkout(shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]) -> Checkout:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    assert result_of(await return_to_shop(shop, location))["status"] == "succeeded"
    return flow


# --- payments ------------------------------------------------------------------------------------


async def test_pay_with_bkash(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    assert (flow.payment["status"], flow.payment["amount"]) == (
        "pending",
        {"amount": 5100, "currency": "BDT"},
    )
    assert flow.payment["redirect_url"].startswith(str(fake.base_url) + "/redirect/tokenized/")
    created = await at_bkash(fake, flow.bkash_id)
    assert created["status"] == "Initiated"
    assert (created["amount"], created["currency"], created["intent"]) == ("51.00", "BDT", "sale")
    assert created["merchantInvoiceNumber"] == flow.payment["id"]
    assert created["callbackURL"] == PUBLIC_BASE_URL + CALLBACK_PATH

    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    assert (await at_bkash(fake, flow.bkash_id))["status"] == "Initiated"  # approval alone moves nothing
    result = result_of(await return_to_shop(shop, location))

    assert result == {"payment_id": flow.payment["id"], "status": "succeeded"}
    executed = await at_bkash(fake, flow.bkash_id)
    assert (executed["status"], executed["execute_calls"]) == ("Completed", 1)
    assert await order_status(shop, flow) == "paid"
    payment = (await shop.get(f"/api/v1/payments/{flow.payment['id']}", headers=flow.buyer)).json()
    assert payment["status"] == "succeeded"
    inbox = await db.provider_events.find({"payment_id": ObjectId(flow.payment["id"])}).to_list()
    assert [event["event_id"] for event in inbox] == [f"trx:{executed['trxID']}"]


async def test_duplicate_callbacks_execute_once_and_settle_once(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")

    answers = await asyncio.gather(*(return_to_shop(shop, location) for _ in range(5)))

    assert [result_of(answer)["status"] for answer in answers] == ["succeeded"] * 5
    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1
    payment = await stored_payment(db, flow.payment["id"])
    assert [entry["status"] for entry in payment["history"]] == ["pending", "succeeded"]
    assert await db.payment_outbox.count_documents({"payment_id": payment["_id"]}) == 1
    again = await return_to_shop(shop, location, json=True)  # a late refresh, from a script this time
    assert again.status_code == 200
    assert again.json() == {"payment_id": flow.payment["id"], "status": "succeeded"}
    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1


async def test_a_forged_success_for_an_unapproved_payment_pays_nothing(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)

    result = result_of(await return_to_shop(shop, forged(flow.bkash_id, "success")))

    assert result["status"] == "pending"
    at_provider = await at_bkash(fake, flow.bkash_id)
    assert (at_provider["status"], at_provider["execute_calls"]) == ("Initiated", 1)  # bKash said 2056
    assert await order_status(shop, flow) == "pending_payment"
    # The forgery did not spoil the real payment.
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    assert result_of(await return_to_shop(shop, location))["status"] == "succeeded"
    assert await order_status(shop, flow) == "paid"


async def test_forged_failures_change_nothing(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    before = await calls(fake)

    # Approved but not yet executed: bKash's status is still Initiated, so nothing is failed.
    assert result_of(await return_to_shop(shop, forged(flow.bkash_id, "failure")))["status"] == "pending"
    assert (await calls(fake)).get("execute", 0) == before.get("execute", 0)  # never executed on a failure
    assert result_of(await return_to_shop(shop, location))["status"] == "succeeded"

    # After success: a forged failure or cancel is answered with the truth and changes nothing.
    for status in ("failure", "cancel"):
        assert result_of(await return_to_shop(shop, forged(flow.bkash_id, status)))["status"] == "succeeded"
    payment = await stored_payment(db, flow.payment["id"])
    assert [entry["status"] for entry in payment["history"]] == ["pending", "succeeded"]
    assert await order_status(shop, flow) == "paid"


async def test_a_cancelled_payment_fails_and_the_order_stays_payable(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "cancel")

    assert result_of(await return_to_shop(shop, location))["status"] == "failed"

    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 0
    assert await order_status(shop, flow) == "pending_payment"
    assert (await pay(shop, flow.buyer, flow.order["id"])).status_code == 201  # the shopper may try again


async def test_insufficient_balance_fails_the_payment(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve", wallet=INSUFFICIENT_WALLET)

    assert result_of(await return_to_shop(shop, location))["status"] == "failed"  # execute: 2023

    assert (await at_bkash(fake, flow.bkash_id))["status"] == "Failed"
    assert await order_status(shop, flow) == "pending_payment"


async def test_unknown_and_malformed_callbacks(shop: httpx.AsyncClient) -> None:
    unknown = await return_to_shop(shop, forged("TR0011NOSUCHPAYMENT", "success"))
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    assert unknown.json()["type"] == "/problems/payment-not-found"
    missing = await shop.get(CALLBACK_PATH, params={"status": "success"})
    assert missing.status_code == 422
    hostile = await shop.get(CALLBACK_PATH, params={"paymentID": '{"$ne": null}', "status": "success"})
    assert hostile.status_code == 422


async def test_an_execute_that_times_out_is_settled_from_the_status(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    await fault(fake, "execute", "slow", seconds=4)  # executes, then answers after our 2 s timeout

    assert result_of(await return_to_shop(shop, location))["status"] == "succeeded"

    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1  # never executed twice
    assert await order_status(shop, flow) == "paid"


async def test_reconciliation_settles_an_execute_whose_answer_was_lost(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    reconciler: PaymentContext,
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    # bKash takes 3 s to execute: we give up after 2 s, ask the status (still Initiated), answer pending.
    await fault(fake, "execute", "hang", seconds=3)
    assert result_of(await return_to_shop(shop, location))["status"] == "pending"
    for _ in range(50):
        if (await at_bkash(fake, flow.bkash_id))["status"] == "Completed":
            break
        await asyncio.sleep(0.1)
    await db.payments.update_one(
        {"_id": ObjectId(flow.payment["id"])}, {"$set": {"created_at": utcnow() - timedelta(days=1)}}
    )

    await asyncio.gather(reconcile(reconciler), reconcile(reconciler))  # two replicas at once

    assert await order_status(shop, flow) == "paid"
    payment = await stored_payment(db, flow.payment["id"])
    assert [entry["status"] for entry in payment["history"]] == ["pending", "succeeded"]
    assert (await at_bkash(fake, flow.bkash_id))["execute_calls"] == 1


async def test_reconciliation_never_executes_an_approved_payment(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    reconciler: PaymentContext,
) -> None:
    """The shopper approved but the browser never came back: bKash moves money only on our execute,
    its status still says Initiated, so reconciliation leaves the payment pending and charges nobody."""
    flow = await checkout(shop, admin)
    await shopper(fake, flow.payment["redirect_url"], "approve")
    await db.payments.update_one(
        {"_id": ObjectId(flow.payment["id"])}, {"$set": {"created_at": utcnow() - timedelta(days=1)}}
    )

    await reconcile(reconciler)

    at_provider = await at_bkash(fake, flow.bkash_id)
    assert (at_provider["status"], at_provider["execute_calls"]) == ("Initiated", 0)
    assert (await stored_payment(db, flow.payment["id"]))["status"] == "pending"
    assert await order_status(shop, flow) == "pending_payment"


async def test_a_payment_completed_after_the_order_expired_is_refunded_at_bkash(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    flow = await checkout(shop, admin)
    location = await shopper(fake, flow.payment["redirect_url"], "approve")
    await db.orders.update_one(
        {"_id": ObjectId(flow.order["id"])}, {"$set": {"expires_at": utcnow() - timedelta(seconds=1)}}
    )
    for _ in range(100):
        if await order_status(shop, flow) == "expired":
            break
        await asyncio.sleep(0.1)

    assert result_of(await return_to_shop(shop, location))["status"] == "refunded"

    at_provider = await at_bkash(fake, flow.bkash_id)
    assert (at_provider["status"], at_provider["refundable"]) == ("Completed", "0.00")
    assert [refund["amount"] for refund in at_provider["refunds"]] == ["51.00"]
    assert await order_status(shop, flow) == "expired"


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
    assert (await calls(fake))["status"] - before["status"] == 2


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


# --- refunds -------------------------------------------------------------------------------------


async def refund(
    shop: httpx.AsyncClient, admin: dict[str, str], payment_id: str, body: dict[str, Any], key: str
) -> httpx.Response:
    return await shop.post(
        f"/api/v1/payments/{payment_id}/refunds", json=body, headers={**admin, "Idempotency-Key": key}
    )


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


async def test_a_repeated_refund_is_not_sent_twice(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], bkash_provider: BkashProvider
) -> None:
    flow = await paid_checkout(shop, fake, admin)
    request = RefundRequest(str(ObjectId()), flow.bkash_id, 500, "BDT", "goodwill", "refund-x")

    first = await bkash_provider.refund(request)
    second = await bkash_provider.refund(request)  # e.g. our answer was lost and the call repeated

    assert (first.state, second) == ("succeeded", first)
    assert len((await at_bkash(fake, flow.bkash_id))["refunds"]) == 1
    assert await bkash_provider.query_refund(request, None) == first
    unknown = RefundRequest(str(ObjectId()), flow.bkash_id, 500, "BDT", "never sent", "refund-y")
    assert (await bkash_provider.query_refund(unknown, None)).state == "failed"
    with pytest.raises(BkashError) as over:
        await bkash_provider.refund(
            RefundRequest(str(ObjectId()), flow.bkash_id, 5000, "BDT", "x", "refund-z")
        )
    assert (over.value.code, over.value.retryable) == ("2026", False)
