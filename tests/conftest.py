"""Session fixtures: the real stack (embedded database or MONGODB_URL, four services, gateway) on free ports.

Every test session gets a fresh data directory and its own database name, so the suite can also
run against a shared real replica set (`MONGODB_URL=... make test`) without touching other data.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient

from devstack.stack import Stack, StackError, StackSettings, settings_on_free_ports
from shared.db import Database
from shared.db import MongoClient as AsyncClient
from shared.forwarding import INTERNAL_TOKEN_HEADER
from tests.audit.secrets_scan import known_secrets, leaks, product_logs
from tests.builders import bearer, login, register


def stack_settings(data_dir: Path, **overrides: object) -> StackSettings:
    """Settings for a stack on fresh free ports; MONGODB_URL from the environment is honoured."""
    defaults: dict[str, object] = {
        "mongodb_url": os.environ.get("MONGODB_URL") or None,
        "startup_timeout_seconds": 60,
    }
    return settings_on_free_ports(data_dir, **{**defaults, **overrides})


# One internal token for every stack this session starts, so an extra gateway or service started by a
# test talks to the session stack's processes as the real gateway does (devstack reads it from here).
os.environ.setdefault("INTERNAL_TOKEN", secrets.token_urlsafe(32))


def internal_headers() -> dict[str, str]:
    """What a test sends to call a service port directly, as the gateway would."""
    return {INTERNAL_TOKEN_HEADER: os.environ["INTERNAL_TOKEN"]}


ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "correct horse battery staple for tests"  # pragma: allowlist secret
# Every test request reaches auth from 127.0.0.1, so the per-IP rules are set out of reach here
# and tested on an auth process of their own (tests/integration/test_login_defences.py).
ACCESS_TOKEN_TTL_SECONDS = 3600  # the longest the auth service allows
AUTH_TEST_SETTINGS = {
    "BOOTSTRAP_ADMIN_EMAIL": ADMIN_EMAIL,
    "BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
    "CAPTCHA_PROVIDER": "altcha",
    "LOGIN_CAPTCHA_AFTER_FAILURES": "3",
    "LOGIN_IP_CAPTCHA_AFTER_FAILURES": "100000",
    "LOGIN_IP_DELAY_AFTER_FAILURES": "100000",
    "LOGIN_DELAY_MAX_SECONDS": "0.05",
    # Tests leave the grace window by moving `spent_at` in the database, never by waiting.
    "REFRESH_REUSE_GRACE_SECONDS": "30",
    # The session's admin and customer tokens are made once: they must outlive a slow run of the suite.
    "ACCESS_TOKEN_TTL_SECONDS": str(ACCESS_TOKEN_TTL_SECONDS),
}
# Orders keep the default 15-minute payment window; tests that need an order overdue move its
# deadline into the past, and the reaper (sweeping twice a second here) does the rest.
ORDER_TEST_SETTINGS = {"ORDER_EXPIRY_SWEEP_SECONDS": "0.5"}
# Every test client is 127.0.0.1: the race tests send more requests at once than one shopper would,
# and the whole suite more than any one client may per minute. Rate limits are tested on gateways of
# their own (tests/integration/test_rate_limits*.py).
GATEWAY_TEST_SETTINGS = {
    "MAX_INFLIGHT_PER_CLIENT": "1000",
    **{
        f"RATE_LIMIT_{name}": "1000000/minute"
        for name in ("DEFAULT", "AUTH", "CHECKOUT", "REFUNDS", "WEBHOOKS")
    },
}


# The sandbox provider is offered only when named (and never in production).
PAYMENT_TEST_SETTINGS = {"PAYMENT_PROVIDERS": "sandbox"}


def stack_env(database_name: str) -> dict[str, str]:
    return {
        "ENV": "test",
        **PAYMENT_TEST_SETTINGS,
        "MONGODB_DB": database_name,
        "LOG_LEVEL": "INFO",
        **AUTH_TEST_SETTINGS,
        **ORDER_TEST_SETTINGS,
        **GATEWAY_TEST_SETTINGS,
    }


def log_tails(log_dir: Path, lines: int = 30) -> str:
    parts = []
    for log in sorted(log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {log.name} ---\n" + "\n".join(tail))
    return "\n".join(parts)


@pytest.fixture(scope="session")
def database_name() -> str:
    return f"test_{secrets.token_hex(4)}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, database_name: str) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("stack")
    running = Stack(stack_settings(root / "data"), env=stack_env(database_name), log_dir=root / "logs")
    try:
        running.start()
    except StackError as exc:
        pytest.fail(f"the stack did not start: {exc}\n{log_tails(root / 'logs')}")
    yield running
    running.stop()
    if not running.embedded:
        with MongoClient[dict[str, object]](running.mongodb_url) as client:
            client.drop_database(database_name)
    # The whole run's logs, of every product process any test started: no secret, no token.
    found = leaks(product_logs(tmp_path_factory.getbasetemp()), known_secrets([root / "data"]))
    if found:
        pytest.fail("secrets in the logs:\n" + "\n".join(found[:50]))


@pytest.fixture(scope="session")
async def gateway(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        yield client


# The embedded server closes a connection idle for 300 s. A client kept for the whole session
# drops pooled connections idle for a minute instead, so a command after a long pause (a session
# fixture's teardown) does not meet one the server closed (once: dropDatabase, "connection closed").
IDLE_CONNECTION_MS = 60_000


def session_client(url: str) -> AsyncClient:
    """A database client for a session-scoped fixture."""
    return AsyncMongoClient(url, tz_aware=True, maxIdleTimeMS=IDLE_CONNECTION_MS)


@pytest.fixture(scope="session")
async def db(stack: Stack, database_name: str) -> AsyncIterator[Database]:
    """Direct access to the stack's database, for building test data and checking what was stored."""
    client = session_client(stack.mongodb_url)
    yield client[database_name]
    await client.close()


@pytest.fixture(scope="session")
async def admin(gateway: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers of the bootstrap admin."""
    return bearer(await login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD))


@pytest.fixture(scope="session")
async def customer(gateway: httpx.AsyncClient) -> dict[str, str]:
    """Authorization headers of a freshly registered customer."""
    account = await register(gateway)
    return bearer(await login(gateway, account.email, account.password))
