"""Nagad through the gateway, against a fake Nagad that speaks the RSA protocol (tests/fakes/nagad_server.py).

Both RSA key pairs are generated here at run time (none is ever committed): the merchant's private
key and the gateway's public key go to the payment service, the merchant's public key and the
gateway's private key to the fake.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from bson import ObjectId
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from devstack.stack import Stack
from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from services.payment.providers.nagad import Envelope, create, dhaka_stamp, order_id_for
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.db import Database, MongoClient
from tests.builders import customer_headers, make_product, place_order
from tests.payment.conftest import ProviderStack, fake_server, provider_stack

MERCHANT_ID = "683002007104225"
API_PREFIX = "/api/dfs"  # where the fake serves Nagad's API (the sandbox's is longer; configurable)
PUBLIC_BASE_URL = "https://shop.example.test"  # what Nagad and browsers are told our address is
CALLBACK_PATH = "/api/v1/payments/callbacks/nagad"
UNIT_PRICE = 2550  # 25.50 BDT


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass(frozen=True)
class Keys:
    merchant_private_pem: str  # the payment service's secret
    gateway_public_pem: str  # Nagad's public key, as Nagad hands it to merchants
    merchant_public_file: Path  # for the fake
    gateway_private_file: Path  # for the fake


@pytest.fixture(scope="module")
def nagad_keys(provider_root: Path) -> Keys:
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder = provider_root / "nagad-keys"
    folder.mkdir(mode=0o700, exist_ok=True)
    merchant_public, gateway_private = folder / "merchant-public.pem", folder / "gateway-private.pem"
    merchant_public.write_text(_public_pem(merchant))
    gateway_private.touch(mode=0o600)
    gateway_private.write_text(_private_pem(gateway))
    return Keys(_private_pem(merchant), _public_pem(gateway), merchant_public, gateway_private)


@pytest.fixture(scope="module")
def nagad_url(nagad_keys: Keys, provider_root: Path) -> Iterator[str]:
    with fake_server(
        "tests.fakes.nagad_server",
        "--merchant-id",
        MERCHANT_ID,
        "--merchant-public-key-file",
        str(nagad_keys.merchant_public_file),
        "--gateway-private-key-file",
        str(nagad_keys.gateway_private_file),
        "--prefix",
        API_PREFIX,
        log_dir=provider_root / "logs",
    ) as url:
        yield url


def nagad_settings(nagad_url: str, keys: Keys) -> dict[str, str]:
    return {
        "PAYMENT_PROVIDERS": "sandbox,nagad",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "NAGAD_BASE_URL": nagad_url + API_PREFIX,
        "NAGAD_MERCHANT_ID": MERCHANT_ID,
        "NAGAD_MERCHANT_PRIVATE_KEY": keys.merchant_private_pem,
        "NAGAD_PUBLIC_KEY": keys.gateway_public_pem,
        "PROVIDER_TIMEOUT_SECONDS": "2",
    }


@pytest.fixture(scope="module")
def nagad_stack(
    stack: Stack, provider_root: Path, nagad_url: str, nagad_keys: Keys
) -> Iterator[ProviderStack]:
    with provider_stack(stack, provider_root, nagad_settings(nagad_url, nagad_keys)) as running:
        yield running


@pytest.fixture(scope="module")
async def shop(nagad_stack: ProviderStack) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of the Nagad-enabled payment service."""
    async with httpx.AsyncClient(base_url=nagad_stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def fake(nagad_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nagad_url, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
async def fresh_fake(fake: httpx.AsyncClient) -> None:
    """No fault or count left over from another test."""
    assert (await fake.post("/__control/reset")).status_code == 200


# --- Steps -----------------------------------------------------------------------------------------
async def ordered(shop: httpx.AsyncClient, admin: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    product = await make_product(shop, admin, stock=10, price={"amount": UNIT_PRICE, "currency": "BDT"})
    buyer = await customer_headers(shop)
    response = await place_order(shop, buyer, [(product["id"], 2)])
    assert response.status_code == 201, response.text
    return response.json(), buyer


async def start(shop: httpx.AsyncClient, buyer: dict[str, str], order_id: str) -> httpx.Response:
    return await shop.post(
        "/api/v1/payments",
        json={"order_id": order_id, "provider": "nagad"},
        headers={**buyer, "Idempotency-Key": uuid.uuid4().hex},
    )


async def started(
    shop: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An order and its Nagad payment (pending, shopper at Nagad's page), and its reference."""
    order, buyer = await ordered(shop, admin)
    response = await start(shop, buyer, order["id"])
    assert response.status_code == 201, response.text
    payment = response.json()
    return order, payment, urlsplit(payment["redirect_url"]).path.removeprefix("/check-out/")


async def at_nagad(fake: httpx.AsyncClient, redirect_url: str, action: str) -> str:
    """The shopper pays (or aborts) on Nagad's page; returns where Nagad sends the browser."""
    page = await fake.get(urlsplit(redirect_url).path, params={"action": action})
    assert page.status_code == 302, page.text
    return page.headers["location"]


async def back_at_shop(
    shop: httpx.AsyncClient, location: str, *, accept: str = "text/html"
) -> httpx.Response:
    """The browser follows Nagad's redirect to our public address (here: the test gateway)."""
    url = urlsplit(location)
    assert f"{url.scheme}://{url.netloc}{url.path}" == PUBLIC_BASE_URL + CALLBACK_PATH
    return await shop.get(f"{url.path}?{url.query}", headers={"Accept": accept})


def result_of(response: httpx.Response) -> dict[str, list[str]]:
    assert response.status_code == 303, response.text
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == PUBLIC_BASE_URL + "/payment-result"
    return parse_qs(target.query)


async def stored(db: Database, collection: str, doc_id: str) -> dict[str, Any]:
    doc = await db[collection].find_one({"_id": ObjectId(doc_id)})
    assert doc is not None
    return doc


async def fake_state(fake: httpx.AsyncClient, reference: str) -> dict[str, Any]:
    response = await fake.get(f"/__control/payments/{reference}")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def fault(fake: httpx.AsyncClient, **spec: Any) -> None:
    assert (await fake.post("/__control/faults", json=spec)).status_code == 200


async def counters(fake: httpx.AsyncClient) -> dict[str, int]:
    found: dict[str, int] = (await fake.get("/__control/counters")).json()
    return found


# --- The happy path and its duplicates ---------------------------------------------------------
async def test_pay_an_order_with_nagad(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, payment, reference = await started(shop, admin)
    assert (payment["status"], payment["amount"]) == ("pending", {"amount": 5100, "currency": "BDT"})
    at_fake = await fake_state(fake, reference)
    # What Nagad was told: a stable short order id, the amount in taka, our public callback URL.
    assert at_fake["order_id"] == order_id_for(payment["id"])
    assert (at_fake["amount"], at_fake["status"]) == ("51.00", "Ready")
    assert at_fake["callback_url"] == PUBLIC_BASE_URL + CALLBACK_PATH

    location = await at_nagad(fake, payment["redirect_url"], "pay")
    assert parse_qs(urlsplit(location).query)["status"] == ["Success"]
    back = await back_at_shop(shop, location)
    assert result_of(back) == {"payment_id": [payment["id"]], "status": ["succeeded"]}

    assert (await counters(fake)).get("verify") == 1  # the callback was checked with Nagad
    buyer_view = await shop.get(f"/api/v1/payments/{payment['id']}", headers=admin)
    assert buyer_view.json()["status"] == "succeeded"
    assert (await stored(db, "orders", order["id"]))["status"] == "paid"


async def test_duplicate_callbacks_settle_once(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, payment, _ = await started(shop, admin)
    location = await at_nagad(fake, payment["redirect_url"], "pay")
    answers = await asyncio.gather(*(back_at_shop(shop, location) for _ in range(5)))
    answers.append(await back_at_shop(shop, location))  # and a late replay
    assert {result_of(answer)["status"][0] for answer in answers} == {"succeeded"}

    settled = await stored(db, "payments", payment["id"])
    assert [entry["status"] for entry in settled["history"]] == ["pending", "succeeded"]
    paid = await stored(db, "orders", order["id"])
    assert [entry["status"] for entry in paid["history"]] == ["pending_payment", "paid"]
    assert await db.payment_outbox.count_documents({"payment_id": ObjectId(payment["id"])}) == 1
    applied = {"provider": "nagad", "payment_id": ObjectId(payment["id"]), "disposition": "applied"}
    assert await db.provider_events.count_documents(applied) == 1


async def test_an_aborted_payment_fails_and_the_order_stays_payable(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, payment, _ = await started(shop, admin)
    back = await back_at_shop(shop, await at_nagad(fake, payment["redirect_url"], "abort"))
    assert result_of(back)["status"] == ["failed"]
    assert (await stored(db, "orders", order["id"]))["status"] == "pending_payment"


# --- What is never believed ----------------------------------------------------------------------
async def test_a_forged_success_callback_changes_nothing(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, payment, reference = await started(shop, admin)
    forged = (
        f"{PUBLIC_BASE_URL}{CALLBACK_PATH}?merchant={MERCHANT_ID}&order_id={order_id_for(payment['id'])}"
        f"&payment_ref_id={reference}&status=Success&status_code=00_0000_000&message=Successful"
    )
    assert result_of(await back_at_shop(shop, forged))["status"] == ["pending"]
    as_json = await back_at_shop(shop, forged, accept="application/json")
    assert as_json.status_code == 200
    assert as_json.json() == {"payment_id": payment["id"], "status": "pending"}

    assert (await counters(fake)).get("verify") == 2  # each hint was checked, and not believed
    assert (await stored(db, "payments", payment["id"]))["status"] == "pending"
    assert (await stored(db, "orders", order["id"]))["status"] == "pending_payment"


async def test_an_amount_that_differs_at_nagad_is_refunded_and_flagged(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, payment, reference = await started(shop, admin)
    # Nagad reports a success, but for 1 taka instead of 51: what it holds is given back at once.
    changed = await fake.post(
        f"/__control/payments/{reference}/status", json={"status": "Success", "amount": "1"}
    )
    assert changed.status_code == 200
    location = f"{PUBLIC_BASE_URL}{CALLBACK_PATH}?payment_ref_id={reference}&status=Success"
    assert result_of(await back_at_shop(shop, location))["status"] == ["refunded"]

    flagged = await stored(db, "payments", payment["id"])
    assert (flagged["status"], flagged["captured_amount"], flagged["refunded_amount"]) == (
        "refunded",
        100,
        0 + 100,
    )
    assert flagged["attention_reasons"] == ["amount_mismatch"]
    assert (await stored(db, "orders", order["id"]))["status"] == "pending_payment"
    inbox = await db.provider_events.find_one({"provider": "nagad", "provider_payment_id": reference})
    assert inbox is not None
    assert (inbox["disposition"], inbox["amount"]) == ("flagged: amount_mismatch", 100)
    [refund] = await db.refunds.find({"payment_id": flagged["_id"]}).to_list()
    assert (refund["amount"], refund["status"], refund["automatic"]) == (100, "succeeded", True)
    seen = (await shop.get(f"/api/v1/payments/{payment['id']}", headers=admin)).json()
    assert seen["attention"] == ["amount_mismatch"]
    assert seen["captured"] == {"amount": 100, "currency": "BDT"}


async def test_a_callback_for_an_unknown_reference_is_404(shop: httpx.AsyncClient) -> None:
    response = await shop.get(
        CALLBACK_PATH, params={"payment_ref_id": "Tm90QVJlZmVyZW5jZQ==", "status": "Success"}
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == "/problems/payment-not-found"


async def test_a_badly_signed_answer_from_nagad_is_refused(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    await fault(fake, route="initialize", kind="bad_signature")
    order, buyer = await ordered(shop, admin)
    refused = await start(shop, buyer, order["id"])
    assert refused.status_code == 502, refused.text
    assert refused.json()["type"] == "/problems/provider-error"

    payment = await stored(db, "payments", refused.json()["payment_id"])
    assert (payment["status"], payment["provider_payment_id"]) == ("failed", None)
    assert (await stored(db, "orders", order["id"]))["status"] == "pending_payment"
    # Refused at once: a forged answer is not a reason to ask again, nor to go on to complete.
    assert await counters(fake) == {"initialize": 1}


async def test_the_fake_checks_the_merchant_signature_and_headers(
    fake: httpx.AsyncClient, nagad_keys: Keys
) -> None:
    """The fake is only worth testing against if it refuses what Nagad refuses."""
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway_key = serialization.load_pem_public_key(nagad_keys.gateway_public_pem.encode())
    assert isinstance(gateway_key, rsa.RSAPublicKey)
    order_id = uuid.uuid4().hex[:16].upper()
    stamp = dhaka_stamp()
    payload = {"merchantId": MERCHANT_ID, "datetime": stamp, "orderId": order_id, "challenge": "c" * 40}
    sensitive, signature = Envelope(stranger, gateway_key).seal(payload)
    path = f"{API_PREFIX}/check-out/initialize/{MERCHANT_ID}/{order_id}"
    body = {"dateTime": stamp, "sensitiveData": sensitive, "signature": signature}
    headers = {"X-KM-Api-Version": "v-0.2.0", "X-KM-IP-V4": "127.0.0.1", "X-KM-Client-Type": "PC_WEB"}

    forged = await fake.post(path, json=body, headers=headers)
    assert (forged.status_code, forged.json()["reason"]) == (400, "SignatureVerificationFailed")
    no_headers = await fake.post(path, json=body)
    assert (no_headers.status_code, no_headers.json()["reason"]) == (400, "InvalidApiRequest")


# --- Faults at Nagad -----------------------------------------------------------------------------
async def test_transient_failures_are_retried(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    await fault(fake, route="initialize", kind="error", status=503)
    order, payment, _ = await started(shop, admin)  # the 503 was retried with the same order id
    assert (await counters(fake))["initialize"] == 2

    location = await at_nagad(fake, payment["redirect_url"], "pay")
    await fault(fake, route="verify", kind="hang", seconds=4)  # longer than PROVIDER_TIMEOUT_SECONDS
    assert result_of(await back_at_shop(shop, location))["status"] == ["succeeded"]
    assert (await counters(fake))["verify"] == 2
    assert (await stored(db, "orders", order["id"]))["status"] == "paid"


async def test_a_waf_page_instead_of_json_fails_the_payment_cleanly(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    await fault(fake, route="initialize", kind="waf", count=5)  # a server IP Nagad has not whitelisted
    order, buyer = await ordered(shop, admin)
    refused = await start(shop, buyer, order["id"])
    assert refused.status_code == 502
    assert (await stored(db, "payments", refused.json()["payment_id"]))["status"] == "failed"
    assert (await counters(fake))["initialize"] == 1


# --- Reconciliation and refunds ------------------------------------------------------------------
@pytest.fixture
async def nagad_context(
    stack: Stack, database_name: str, nagad_url: str, nagad_keys: Keys
) -> AsyncIterator[PaymentContext]:
    client: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    db = client[database_name]
    settings = PaymentSettings(
        _env_file=None,
        env="test",
        data_dir=stack.settings.data_dir,
        reconcile_after_seconds=1,
        payment_providers=["nagad"],
        nagad_base_url=nagad_url + API_PREFIX,
        nagad_merchant_id=MERCHANT_ID,
        nagad_merchant_private_key=SecretStr(nagad_keys.merchant_private_pem),
        nagad_public_key=nagad_keys.gateway_public_pem,
        provider_timeout_seconds=2,
    )
    provider = create(settings, db)
    yield PaymentContext(client, db, settings, {"nagad": provider})
    await provider.aclose()
    await client.close()


async def test_reconciliation_settles_a_payment_whose_callback_never_came(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    nagad_context: PaymentContext,
) -> None:
    order, payment, reference = await started(shop, admin)
    # The shopper paid at Nagad, then closed the browser before it came back to us.
    assert (await fake.post(f"/__control/payments/{reference}/status", json={"status": "Success"})).is_success
    await db.payments.update_one(
        {"_id": ObjectId(payment["id"])}, {"$set": {"created_at": utcnow() - timedelta(seconds=5)}}
    )
    await asyncio.gather(reconcile(nagad_context), reconcile(nagad_context))  # two replicas at once

    settled = await stored(db, "payments", payment["id"])
    assert [entry["status"] for entry in settled["history"]] == ["pending", "succeeded"]
    assert (await stored(db, "orders", order["id"]))["status"] == "paid"
    # The browser turns up after all: nothing more happens.
    late = f"{PUBLIC_BASE_URL}{CALLBACK_PATH}?payment_ref_id={reference}&status=Success"
    assert result_of(await back_at_shop(shop, late))["status"] == ["succeeded"]
    assert len((await stored(db, "payments", payment["id"]))["history"]) == 2


async def refund(
    shop: httpx.AsyncClient, admin: dict[str, str], payment_id: str, body: dict[str, Any], key: str
) -> httpx.Response:
    return await shop.post(
        f"/api/v1/payments/{payment_id}/refunds", json=body, headers={**admin, "Idempotency-Key": key}
    )


async def test_refund_partly_then_fully(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    order, payment, reference = await started(shop, admin)
    result_of(await back_at_shop(shop, await at_nagad(fake, payment["redirect_url"], "pay")))

    first = await refund(shop, admin, payment["id"], {"amount": 2000, "reason": "One item returned"}, "nr-1")
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["amount"]["amount"]) == ("succeeded", 2000)
    replay = await refund(shop, admin, payment["id"], {"amount": 2000, "reason": "One item returned"}, "nr-1")
    assert (replay.json()["id"], replay.headers.get("idempotent-replayed")) == (first.json()["id"], "true")
    at_fake = await fake_state(fake, reference)
    assert (at_fake["status"], [done["amount"] for done in at_fake["cancels"]]) == (
        "PartialCancelled",
        ["20.00"],
    )
    assert (await stored(db, "payments", payment["id"]))["status"] == "partially_refunded"

    rest = await refund(shop, admin, payment["id"], {"reason": "Order returned"}, "nr-2")
    assert (rest.status_code, rest.json()["status"], rest.json()["amount"]["amount"]) == (
        201,
        "succeeded",
        3100,
    )
    at_fake = await fake_state(fake, reference)
    assert (at_fake["status"], [done["amount"] for done in at_fake["cancels"]]) == (
        "Cancelled",
        ["20.00", "31.00"],
    )
    refunded = await stored(db, "payments", payment["id"])
    assert (refunded["status"], refunded["refunded_amount"]) == ("refunded", 5100)
    assert (await stored(db, "orders", order["id"]))["status"] == "refunded"

    too_much = await refund(shop, admin, payment["id"], {"amount": 1, "reason": "Again"}, "nr-3")
    assert too_much.status_code == 409  # a refunded payment: Nagad is not even asked
    assert (await counters(fake)).get("cancel") == 2


async def test_refunds_whose_answer_was_lost_are_settled_by_reconciliation(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    db: Database,
    nagad_context: PaymentContext,
) -> None:
    _, payment, reference = await started(shop, admin)
    result_of(await back_at_shop(shop, await at_nagad(fake, payment["redirect_url"], "pay")))

    # 1. Nagad answers 503 before doing anything: the cancel is not sent again (Nagad is not known
    # to deduplicate), the refund stays pending, and reconciliation sees nothing was cancelled.
    await fault(fake, route="cancel", kind="error", status=503)
    lost = await refund(shop, admin, payment["id"], {"reason": "Lost answer"}, "nl-1")
    assert (lost.status_code, lost.json()["status"]) == (201, "pending")
    assert (await counters(fake))["cancel"] == 1
    await backdate_refunds(db, payment["id"])
    await reconcile(nagad_context)
    assert (await stored(db, "refunds", lost.json()["id"]))["status"] == "failed"
    assert (await stored(db, "payments", payment["id"]))["refund_pending_amount"] == 0

    # 2. Nagad cancels, but only after we stopped waiting: reconciliation finds it fully cancelled.
    await fault(fake, route="cancel", kind="hang", seconds=3)
    slow = await refund(shop, admin, payment["id"], {"reason": "Slow answer"}, "nl-2")
    assert (slow.status_code, slow.json()["status"]) == (201, "pending")
    for _ in range(50):
        if (await fake_state(fake, reference))["status"] == "Cancelled":
            break
        await asyncio.sleep(0.1)
    assert (await fake_state(fake, reference))["status"] == "Cancelled"
    await backdate_refunds(db, payment["id"])
    await reconcile(nagad_context)
    assert (await stored(db, "refunds", slow.json()["id"]))["status"] == "succeeded"
    assert (await stored(db, "payments", payment["id"]))["status"] == "refunded"
    assert [done["amount"] for done in (await fake_state(fake, reference))["cancels"]] == ["51.00"]


async def backdate_refunds(db: Database, payment_id: str) -> None:
    await db.refunds.update_many(
        {"payment_id": ObjectId(payment_id), "status": "pending"},
        {"$set": {"created_at": utcnow() - timedelta(seconds=5)}},
    )
