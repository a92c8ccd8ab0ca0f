"""bKash fixtures: a local fake bKash (tests/fakes/bkash_server.py), shared by this package's modules,
a payment service (with a gateway) configured for it, and providers in the test process; and the
builders that play the shopper's browser between them."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
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
from services.payment.providers.bkash import BkashProvider
from services.payment.settings import PaymentSettings
from shared.db import Database, MongoClient
from tests.builders import customer_headers, make_product, place_order
from tests.payment.conftest import ProviderStack, fake_server, provider_stack

PUBLIC_BASE_URL = "https://shop.example.test"
SPA_RETURN_URL = "https://spa.example.test/payment-result"  # the SPA, on another origin
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


@pytest.fixture(scope="package")
def bkash_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bkash")


@pytest.fixture(scope="package")
def bkash_fake(bkash_root: Path) -> Iterator[FakeBkash]:
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
    with fake_server("tests.fakes.bkash_server", *args, log_dir=bkash_root / "logs") as url:
        yield FakeBkash(url, fake.app_key, fake.app_secret, fake.username, fake.password)


@pytest.fixture(scope="package")
def bkash_stack(stack: Stack, bkash_root: Path, bkash_fake: FakeBkash) -> Iterator[ProviderStack]:
    env = {
        "PAYMENT_PROVIDERS": "sandbox,bkash",
        "BKASH_BASE_URL": bkash_fake.url + "/v1.2.0-beta/tokenized/checkout",
        "BKASH_REFUND_BASE_URL": bkash_fake.url + "/v2/tokenized-checkout",
        "BKASH_APP_KEY": bkash_fake.app_key,
        "BKASH_APP_SECRET": bkash_fake.app_secret,
        "BKASH_USERNAME": bkash_fake.username,
        "BKASH_PASSWORD": bkash_fake.password,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SPA_RETURN_URL": SPA_RETURN_URL,
        "PROVIDER_TIMEOUT_SECONDS": "2",
    }
    with provider_stack(stack, bkash_root, env) as running:
        yield running


@pytest.fixture(scope="package")
async def shop(bkash_stack: ProviderStack) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of the bKash-enabled payment service."""
    async with httpx.AsyncClient(base_url=bkash_stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="package")
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
    assert location.startswith(SPA_RETURN_URL + "?")
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


async def refund(
    shop: httpx.AsyncClient, admin: dict[str, str], payment_id: str, body: dict[str, Any], key: str
) -> httpx.Response:
    return await shop.post(
        f"/api/v1/payments/{payment_id}/refunds", json=body, headers={**admin, "Idempotency-Key": key}
    )
