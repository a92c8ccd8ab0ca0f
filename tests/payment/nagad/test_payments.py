"""Nagad payments through the gateway, against a fake Nagad that speaks the RSA protocol: the happy
path and its duplicates, what is never believed, faults at Nagad, whose address Nagad is told
(X-KM-IP-V4), and an initialize repeated after a lost answer."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
from bson import ObjectId
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from services.payment.context import PaymentContext
from services.payment.payments.reconciliation import reconcile
from services.payment.providers.nagad import Envelope, dhaka_stamp, order_id_for
from shared.clock import utcnow
from shared.db import Database
from tests.conftest import internal_headers
from tests.payment.conftest import ProviderStack
from tests.payment.nagad.conftest import (
    API_PREFIX,
    CALLBACK_PATH,
    MERCHANT_ID,
    PUBLIC_BASE_URL,
    SERVER_IP,
    Keys,
    at_nagad,
    back_at_shop,
    counters,
    fake_state,
    fault,
    ordered,
    reference_of,
    result_of,
    start,
    started,
    stored,
)


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


# --- Whose address Nagad is told ------------------------------------------------------------------
async def vouched_start(
    nagad_stack: ProviderStack, buyer: dict[str, str], order_id: str, address: str
) -> httpx.Response:
    """Start a payment as the gateway forwards it: the shopper's address in X-Forwarded-For, vouched
    for by the internal token (here the test plays the gateway on the payment service's port)."""
    async with httpx.AsyncClient(base_url=nagad_stack.payment_url, timeout=30) as service:
        return await service.post(
            "/api/v1/payments",
            json={"order_id": order_id, "provider": "nagad"},
            headers={
                **buyer,
                **internal_headers(),
                "X-Forwarded-For": address,
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )


async def test_nagad_is_told_the_shoppers_address_and_ours_for_our_own_calls(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    nagad_stack: ProviderStack,
) -> None:
    order, buyer = await ordered(shop, admin)
    vouched = await vouched_start(nagad_stack, buyer, order["id"], "203.0.113.7")
    assert vouched.status_code == 201, vouched.text
    payment = vouched.json()
    reference = reference_of(payment)
    assert (await fake_state(fake, reference))["client_ips"] == {
        "initialize": "203.0.113.7",
        "complete": "203.0.113.7",
    }
    # Calls the server starts itself (the callback's verify) carry this server's whitelisted address.
    await back_at_shop(shop, await at_nagad(fake, payment["redirect_url"], "pay"))
    assert (await fake_state(fake, reference))["client_ips"]["verify"] == SERVER_IP

    # Through the gateway, the shopper is this test process (127.0.0.1), not the server.
    _, through_gateway, reference = await started(shop, admin)
    ips = (await fake_state(fake, reference))["client_ips"]
    assert (ips["initialize"], ips["complete"]) == ("127.0.0.1", "127.0.0.1")
    assert through_gateway["status"] == "pending"


async def test_a_shopper_on_ipv6_is_stood_in_for_by_the_servers_address(
    shop: httpx.AsyncClient,
    fake: httpx.AsyncClient,
    admin: dict[str, str],
    nagad_stack: ProviderStack,
) -> None:
    order, buyer = await ordered(shop, admin)
    response = await vouched_start(nagad_stack, buyer, order["id"], "2001:db8::7")  # X-KM-IP-V4: IPv4 only
    assert response.status_code == 201, response.text
    ips = (await fake_state(fake, reference_of(response.json())))["client_ips"]
    assert (ips["initialize"], ips["complete"]) == (SERVER_IP, SERVER_IP)


# --- An initialize repeated after its answer was lost ---------------------------------------------
async def test_an_initialize_repeated_after_a_lost_answer_is_already_initialized(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str], db: Database
) -> None:
    # Nagad initializes the order, but its answer comes after we stopped waiting (2 s): the retry
    # with the same order id meets 16_0006_083 "Duplicate Order ID in same day".
    await fault(fake, route="initialize", kind="slow", seconds=3)
    order, buyer = await ordered(shop, admin)
    refused = await start(shop, buyer, order["id"])

    assert refused.status_code == 409, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/payment-already-initialized"
    assert (await counters(fake))["initialize"] == 2
    failed = await stored(db, "payments", problem["payment_id"])
    assert (failed["status"], failed["failure_reason"]) == ("failed", "provider_already_initialized")
    assert (await stored(db, "orders", order["id"]))["status"] == "pending_payment"

    # Paying again starts a new payment, with a new order id, which Nagad takes.
    again = await start(shop, buyer, order["id"])
    assert again.status_code == 201, again.text
    assert again.json()["id"] != problem["payment_id"]
    assert (await fake_state(fake, reference_of(again.json())))["order_id"] == order_id_for(
        again.json()["id"]
    )
