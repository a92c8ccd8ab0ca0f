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

import pytest
from pymongo import AsyncMongoClient

from devstack.stack import Stack, free_port
from services.payment.context import PaymentContext
from shared.db import MongoClient
from tests.conftest import stack_settings
from tests.payment.sandbox import context


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
                    with urllib.request.urlopen(f"{url}/__health", timeout=1):  # noqa: S310
                        break
                except OSError:
                    time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@contextmanager
def provider_stack(main: Stack, root: Path, env: Mapping[str, str]) -> Iterator[ProviderStack]:
    """A payment service with `env` (e.g. PAYMENT_PROVIDERS=sandbox,stripe and the fake's URL) and
    a gateway in front of it; auth, catalog and order are the main stack's."""
    extra = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    extra.child_env = {**main.child_env, "DATA_DIR": str(main.settings.data_dir)}
    try:
        extra.start_app("payment", env=env)
        gateway_env = {
            **{f"{name.upper()}_SERVICE_URL": main.url_of(name) for name in ("auth", "catalog", "order")},
            "PAYMENT_SERVICE_URL": extra.url_of("payment"),
        }
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
    client: MongoClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def sandbox_context(stack: Stack, mongo_client: MongoClient, database_name: str) -> PaymentContext:
    """A payment service's context in the test process (the sandbox; reconciling after 1 s)."""
    return context(stack, mongo_client, database_name)
