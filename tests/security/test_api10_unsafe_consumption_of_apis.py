"""API10:2023 Unsafe consumption of APIs.

What other systems send is verified before it is believed: provider webhooks by signature (and
freshness), redirect callbacks by asking the provider (tests/payment/bkash/test_payments.py and
test_nagad.py forge those), the auth service's key set by key type. A webhook for a provider that
is not enabled is simply not there. Provider amounts are checked against the order before
settlement (tests/payment/test_stripe.py, mismatched webhooks).
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

from devstack.stack import Stack
from shared.db import Database
from shared.tokens import public_key_from_jwk
from tests.payment.conftest import ProviderStack, provider_stack

WEBHOOK = "/api/v1/payments/webhooks/stripe"
# Built at run time: no key-shaped literal is ever committed.
WEBHOOK_SECRET = "whsec_" + secrets.token_hex(16)  # pragma: allowlist secret
SECRET_KEY = "sk_test_" + secrets.token_hex(12)  # pragma: allowlist secret


@pytest.fixture(scope="module")
def stripe_only(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProviderStack]:
    """A payment service with Stripe enabled (its API unreachable: only webhooks arrive here)."""
    env = {
        "PAYMENT_PROVIDERS": "stripe",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    }
    with provider_stack(stack, tmp_path_factory.mktemp("stripe-only"), env) as running:
        yield running


def event(amount: int = 5000) -> str:
    return json.dumps(
        {
            "id": f"evt_{secrets.token_hex(8)}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {"id": f"pi_{secrets.token_hex(8)}", "object": "payment_intent", "amount": amount}
            },
        }
    )


def signature(payload: str, secret: str, timestamp: int | None = None) -> str:
    return str(stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp=timestamp))


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("unsigned", lambda body: None),
        ("signed with another secret", lambda body: signature(body, "whsec_" + secrets.token_hex(16))),
        ("stale", lambda body: signature(body, WEBHOOK_SECRET, int(time.time()) - 3600)),
        ("garbage", lambda body: "t=1,v1=00"),
    ],
)
async def test_webhooks_are_believed_only_when_signed_and_fresh(
    stripe_only: ProviderStack, db: Database, name: str, header: Any
) -> None:
    body = event()
    value = header(body)
    headers = {"Content-Type": "application/json", **({"Stripe-Signature": value} if value else {})}
    before = await db.provider_events.count_documents({})
    async with httpx.AsyncClient(base_url=stripe_only.gateway_url, timeout=10) as client:
        response = await client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 400, name
    assert response.json()["type"] == "/problems/invalid-signature"
    assert WEBHOOK_SECRET not in response.text
    assert await db.provider_events.count_documents({}) == before


async def test_a_signed_event_about_nothing_we_know_changes_nothing(
    stripe_only: ProviderStack, db: Database
) -> None:
    body = event()
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature(body, WEBHOOK_SECRET)}
    async with httpx.AsyncClient(base_url=stripe_only.gateway_url, timeout=10) as client:
        response = await client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 200  # acknowledged, so Stripe stops retrying...
    intent = json.loads(body)["data"]["object"]["id"]
    assert await db.payments.count_documents({"provider_payment_id": intent}) == 0  # ...and ignored


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/payments/webhooks/stripe",
        "/api/v1/payments/callbacks/bkash",
        "/api/v1/payments/callbacks/nagad",
    ],
)
async def test_providers_that_are_not_enabled_have_no_door(gateway: httpx.AsyncClient, path: str) -> None:
    response = await gateway.post(path, content=event(), headers={"Content-Type": "application/json"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def alien_jwks() -> list[dict[str, Any]]:
    """Keys a compromised or misconfigured key set could publish: none is of the pinned kind."""
    return [
        json.loads(RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048).public_key())),
        json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()).public_key())),
        json.loads(HMACAlgorithm.to_jwk(b"a shared secret that is not a public key")),
        json.loads(OKPAlgorithm.to_jwk(ed448.Ed448PrivateKey.generate().public_key())),
    ]


@pytest.mark.parametrize("jwk", alien_jwks(), ids=lambda jwk: f"{jwk['kty']}-{jwk.get('crv', '')}")
def test_only_ed25519_keys_from_the_key_set_are_ever_trusted(jwk: dict[str, Any]) -> None:
    assert public_key_from_jwk({**jwk, "kid": "k"}) is None
