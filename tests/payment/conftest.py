"""Fixtures for provider tests: a fake provider server, and a payment service (plus a gateway in
front of it) configured to use it, on the main stack's database and services."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack, free_port
from services.payment.context import PaymentContext
from services.payment.providers.stripe import StripeProvider, create
from shared.db import Database, MongoClient
from tests.conftest import session_client, stack_settings
from tests.payment.sandbox import context
from tests.payment.stripe_support import SECRET_KEY, WEBHOOK_PATH, WEBHOOK_SECRET, Fake, provider_settings


@dataclass(frozen=True)
class ProviderStack:
    payment_url: str  # the payment service configured for the provider
    gateway_url: str  # a gateway routing /api/v1/payments to it (everything else: the main stack)
    stack: Stack


@contextmanager
def fake_server(module: str, *args: str, log_dir: Path) -> Iterator[str]:
    """Run `python -m <module> --port N [args]` (a fake provider) until the block ends; yields its URL.

    The module must answer `GET /__health` with 200 once it is ready.
    """
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{module.rsplit('.', 1)[-1]}.log").open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", str(port), *args], stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                assert process.poll() is None, f"{module} exited during start-up"
                try:
                    with urllib.request.urlopen(f"{url}/__health", timeout=1):  # noqa: S310 - a local http URL
                        break
                except OSError:
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def provider_stack(
    main: Stack, root: Path, env: Mapping[str, str], *, catalog_env: Mapping[str, str] | None = None
) -> Iterator[ProviderStack]:
    """A payment service with `env` (e.g. PAYMENT_PROVIDERS=sandbox,stripe and the fake's URL) and
    a gateway in front of it; auth and order are the main stack's, and so is the catalog unless
    `catalog_env` asks for one of its own (other SHOP_CURRENCIES, say)."""
    extra = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    extra.child_env = {**main.child_env, "DATA_DIR": str(main.settings.data_dir)}
    try:
        extra.start_app("payment", env=env)
        gateway_env = {
            **{f"{name.upper()}_SERVICE_URL": main.url_of(name) for name in ("auth", "catalog", "order")},
            "PAYMENT_SERVICE_URL": extra.url_of("payment"),
        }
        if catalog_env is not None:
            extra.start_app("catalog", env=catalog_env)
            gateway_env["CATALOG_SERVICE_URL"] = extra.url_of("catalog")
        extra.start_app("gateway", env=gateway_env)
        yield ProviderStack(extra.url_of("payment"), extra.gateway_url, extra)
    finally:
        extra.stop()


@pytest.fixture(scope="module")
def provider_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("provider")


@pytest.fixture(scope="session")
async def mongo_client(stack: Stack) -> AsyncIterator[MongoClient]:
    """A client of the stack's database for payment contexts run in the test process."""
    client = session_client(stack.mongodb_url)
    yield client
    await client.close()


@pytest.fixture
def sandbox_context(stack: Stack, mongo_client: MongoClient, database_name: str) -> PaymentContext:
    """A payment service's context in the test process (the sandbox; reconciling after 1 s)."""
    return context(stack, mongo_client, database_name)


# --- Stripe: a fake Stripe, and a payment service (with a gateway) that uses it, per test module -----


@pytest.fixture(scope="module")
def fake_url(provider_root: Path) -> Iterator[str]:
    with fake_server("tests.fakes.stripe_server", log_dir=provider_root / "logs") as url:
        yield url


@pytest.fixture(scope="module")
async def fake_client(fake_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake_url, timeout=30) as client:
        yield client


@pytest.fixture
async def fake(fake_client: httpx.AsyncClient) -> AsyncIterator[Fake]:
    controls = Fake(fake_client)
    defaults = {"payment_webhooks": "send", "refund_webhooks": "send", "refund_status": "succeeded"}
    await controls.configure(**defaults)
    yield controls
    await controls.call("DELETE", "faults")
    await controls.configure(**defaults)


@pytest.fixture(scope="module")
async def stripe_stack(
    stack: Stack,
    provider_root: Path,
    fake_url: str,
    fake_client: httpx.AsyncClient,
    stripe_catalog_env: dict[str, str] | None,
) -> AsyncIterator[ProviderStack]:
    env = {
        "PAYMENT_PROVIDERS": "sandbox,stripe",
        "STRIPE_API_BASE": fake_url,
        "STRIPE_SECRET_KEY": SECRET_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "PROVIDER_TIMEOUT_SECONDS": "2",
        "PROVIDER_MAX_RETRIES": "2",  # three attempts in all, each under the same idempotency key
        # Tests run reconciliation themselves (reconcile()); the service's own passes stay out of the way.
        "RECONCILE_EVERY_SECONDS": "3600",
    }
    with provider_stack(stack, provider_root, env, catalog_env=stripe_catalog_env) as running:
        # Only now is the webhook endpoint's address known.
        target = {"webhook_url": running.gateway_url + WEBHOOK_PATH, "webhook_secret": WEBHOOK_SECRET}
        assert (await fake_client.post("/__control/config", json=target)).status_code == 200
        yield running


@pytest.fixture(scope="module")
async def shop(stripe_stack: ProviderStack) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in front of the Stripe-enabled payment service."""
    async with httpx.AsyncClient(base_url=stripe_stack.gateway_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def stripe_catalog_env() -> dict[str, str] | None:
    """Settings of a catalog of the Stripe stack's own (None: the main stack's catalog serves)."""
    return None


@pytest.fixture
async def provider(stack: Stack, fake_url: str, db: Database) -> AsyncIterator[StripeProvider]:
    """A StripeProvider of our own, talking to the fake directly."""
    made = create(provider_settings(stack, fake_url), db)
    yield made
    await made.aclose()
