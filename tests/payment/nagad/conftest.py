"""Nagad fixtures: a fake Nagad that speaks the RSA protocol (tests/fakes/nagad_server.py), shared by
this package's modules, a payment service (with a gateway) configured for it, a provider in the test
process, and the steps that play the shopper's browser between them.

Both RSA key pairs are generated here at run time (none is ever committed): the merchant's private
key and the gateway's public key go to the payment service, the merchant's public key and the
gateway's private key to the fake.
"""

from __future__ import annotations

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

from devstack.stack import Stack
from services.payment.context import PaymentContext
from services.payment.providers.nagad import NagadProvider, create
from services.payment.settings import PaymentSettings
from shared.clock import utcnow
from shared.db import Database, MongoClient
from tests.builders import customer_headers, make_product, place_order
from tests.payment.conftest import ProviderStack, fake_server, provider_stack

MERCHANT_ID = "683002007104225"
API_PREFIX = "/api/dfs"  # where the fake serves Nagad's API (the sandbox's is longer; configurable)
PUBLIC_BASE_URL = "https://shop.example.test"  # what Nagad and browsers are told our address is
SPA_RETURN_URL = "https://spa.example.test/payment-result"  # the SPA, on another origin
CALLBACK_PATH = "/api/v1/payments/callbacks/nagad"
SERVER_IP = "198.51.100.20"  # NAGAD_SERVER_IP: this server's address, as Nagad would whitelist it
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


@pytest.fixture(scope="package")
def nagad_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("nagad")


@pytest.fixture(scope="package")
def nagad_keys(nagad_root: Path) -> Keys:
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    gateway = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    folder = nagad_root / "nagad-keys"
    folder.mkdir(mode=0o700, exist_ok=True)
    merchant_public, gateway_private = folder / "merchant-public.pem", folder / "gateway-private.pem"
    merchant_public.write_text(_public_pem(merchant))
    gateway_private.touch(mode=0o600)
    gateway_private.write_text(_private_pem(gateway))
    return Keys(_private_pem(merchant), _public_pem(gateway), merchant_public, gateway_private)


@pytest.fixture(scope="package")
def nagad_url(nagad_keys: Keys, nagad_root: Path) -> Iterator[str]:
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
        log_dir=nagad_root / "logs",
    ) as url:
        yield url


@pytest.fixture(scope="package")
def nagad_stack(stack: Stack, nagad_root: Path, nagad_url: str, nagad_keys: Keys) -> Iterator[ProviderStack]:
    env = {
        "PAYMENT_PROVIDERS": "sandbox,nagad",
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SPA_RETURN_URL": SPA_RETURN_URL,
        "NAGAD_BASE_URL": nagad_url + API_PREFIX,
        "NAGAD_MERCHANT_ID": MERCHANT_ID,
        "NAGAD_MERCHANT_PRIVATE_KEY": nagad_keys.merchant_private_pem,
        "NAGAD_PUBLIC_KEY": nagad_keys.gateway_public_pem,
        "NAGAD_SERVER_IP": SERVER_IP,
        "PROVIDER_TIMEOUT_SECONDS": "2",
        # Tests run reconciliation themselves (reconcile()); the service's own passes stay out of the way.
        "RECONCILE_EVERY_SECONDS": "3600",
    }
    with provider_stack(stack, nagad_root, env) as running:
        yield running


@pytest.fixture(scope="package")
async def shop(nagad_stack: ProviderStack) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of the Nagad-enabled payment service."""
    async with httpx.AsyncClient(base_url=nagad_stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
async def fake(nagad_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nagad_url, timeout=30) as client:
        yield client


@pytest.fixture(autouse=True)
async def fresh_fake(fake: httpx.AsyncClient) -> None:
    """No fault, count or configuration left over from another test."""
    assert (await fake.post("/__control/reset")).status_code == 200


def provider_settings(data_dir: Path, nagad_url: str, keys: Keys, **overrides: Any) -> PaymentSettings:
    values: dict[str, Any] = {
        "reconcile_after_seconds": 1,
        "payment_providers": ["nagad"],
        "nagad_base_url": nagad_url + API_PREFIX,
        "nagad_merchant_id": MERCHANT_ID,
        "nagad_merchant_private_key": SecretStr(keys.merchant_private_pem),
        "nagad_public_key": keys.gateway_public_pem,
        "nagad_server_ip": SERVER_IP,
        "provider_timeout_seconds": 2,
    }
    return PaymentSettings(_env_file=None, env="test", data_dir=data_dir, **{**values, **overrides})


@pytest.fixture
async def nagad_context(
    stack: Stack, mongo_client: MongoClient, database_name: str, nagad_url: str, nagad_keys: Keys
) -> AsyncIterator[PaymentContext]:
    """A payment service's context in the test process, with a Nagad provider of its own."""
    db = mongo_client[database_name]
    settings = provider_settings(stack.settings.data_dir, nagad_url, nagad_keys)
    provider = create(settings, db)
    yield PaymentContext(mongo_client, db, settings, {"nagad": provider})
    await provider.aclose()


@pytest.fixture
async def make_provider(stack: Stack, db: Database, nagad_url: str, nagad_keys: Keys) -> AsyncIterator[Any]:
    """Providers in the test process with settings of the test's choosing."""
    made: list[NagadProvider] = []

    def build(**overrides: Any) -> NagadProvider:
        made.append(
            create(provider_settings(stack.settings.data_dir, nagad_url, nagad_keys, **overrides), db)
        )
        return made[-1]

    yield build
    for provider in made:
        await provider.aclose()


# --- Steps -----------------------------------------------------------------------------------------
async def ordered(shop: httpx.AsyncClient, admin: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    product = await make_product(shop, admin, stock=10, price={"amount": UNIT_PRICE, "currency": "BDT"})
    buyer = await customer_headers(shop)
    response = await place_order(shop, buyer, [(product["id"], 2)])
    assert response.status_code == 201, response.text
    return response.json(), buyer


async def start(
    shop: httpx.AsyncClient, buyer: dict[str, str], order_id: str, **headers: str
) -> httpx.Response:
    return await shop.post(
        "/api/v1/payments",
        json={"order_id": order_id, "provider": "nagad"},
        headers={**buyer, "Idempotency-Key": uuid.uuid4().hex, **headers},
    )


def reference_of(payment: dict[str, Any]) -> str:
    """Nagad's payment reference, the last part of its hosted page's address."""
    redirect_url: str = payment["redirect_url"]
    return urlsplit(redirect_url).path.removeprefix("/check-out/")


async def started(
    shop: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An order and its Nagad payment (pending, shopper at Nagad's page), and its reference."""
    order, buyer = await ordered(shop, admin)
    response = await start(shop, buyer, order["id"])
    assert response.status_code == 201, response.text
    payment = response.json()
    return order, payment, reference_of(payment)


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
    assert f"{target.scheme}://{target.netloc}{target.path}" == SPA_RETURN_URL
    return parse_qs(target.query)


async def paid(
    shop: httpx.AsyncClient, fake: httpx.AsyncClient, admin: dict[str, str]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """An order paid with Nagad (the shopper paid and came back): order, payment, reference."""
    order, payment, reference = await started(shop, admin)
    back = await back_at_shop(shop, await at_nagad(fake, payment["redirect_url"], "pay"))
    assert result_of(back)["status"] == ["succeeded"]
    return order, payment, reference


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


async def configure(fake: httpx.AsyncClient, **config: Any) -> None:
    assert (await fake.post("/__control/config", json=config)).status_code == 200


async def counters(fake: httpx.AsyncClient) -> dict[str, int]:
    found: dict[str, int] = (await fake.get("/__control/counters")).json()
    return found


async def refund(
    shop: httpx.AsyncClient,
    admin: dict[str, str],
    payment_id: str,
    body: dict[str, Any],
    key: str | None = None,
) -> httpx.Response:
    return await shop.post(
        f"/api/v1/payments/{payment_id}/refunds",
        json=body,
        headers={**admin, "Idempotency-Key": key or uuid.uuid4().hex},
    )


async def backdate_refunds(db: Database, payment_id: str) -> None:
    """Make the payment's pending refunds old enough for reconciliation to ask about them."""
    await db.refunds.update_many(
        {"payment_id": ObjectId(payment_id), "status": "pending"},
        {"$set": {"created_at": utcnow() - timedelta(seconds=5)}},
    )
