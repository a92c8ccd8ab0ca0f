"""A supervised stack of the suite's own (these tests kill, stall and restart its processes), and the
shoppers and admin the bursts use; stopped when the module's tests are done.

Never the session `stack`: a fault injected here must not reach other tests. The settings below keep
every fault short: the gateway gives up on a silent service after a few seconds, its breakers retry
after one, and the launcher restarts a crashed process within two.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pymongo import AsyncMongoClient

from devstack.stack import Stack, StackError
from devstack.supervisor import Supervisor, supervised
from shared.db import Database
from shared.db import MongoClient as AsyncClient
from tests.builders import bearer, customer_headers, login
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD, log_tails, stack_env, stack_settings
from tests.faults.workload import Shop

FAULT_SETTINGS = {
    "UPSTREAM_READ_TIMEOUT_SECONDS": "4",  # a stalled service is a 504 after this long
    "BREAKER_RESET_SECONDS": "1",  # a service back from a crash is tried again soon
    "TRANSACTION_TIMEOUT_SECONDS": "3",  # below the gateway's timeout: the service answers first
    "HEALTH_CHECK_TIMEOUT_SECONDS": "1",
    # Each shopper places many unpaid orders in a burst: the fair-stock limits are out of reach.
    "ORDER_MAX_OPEN_PER_CUSTOMER": "1000",
    "ORDER_MAX_UNITS_PER_PRODUCT": "100000",
    "LOG_LEVEL": "INFO",
}
SHOPPERS = 8


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Supervisor]]:
    root = tmp_path_factory.mktemp("faults")
    settings = stack_settings(
        root / "data", restart_backoff_initial_seconds=0.2, restart_backoff_max_seconds=2
    )
    env = {**stack_env(f"faults_{secrets.token_hex(4)}"), **FAULT_SETTINGS}
    stack = Stack(settings, env=env, log_dir=root / "logs")
    try:
        stack.start()
    except StackError as exc:
        pytest.fail(f"the fault stack did not start: {exc}\n{log_tails(root / 'logs')}")
    try:
        with supervised(stack, interval=0.05) as supervisor:
            yield stack, supervisor
    finally:
        stack.stop()


@pytest.fixture(scope="module")
async def fault_db(fault_stack: tuple[Stack, Supervisor]) -> AsyncIterator[Database]:
    stack, _ = fault_stack
    client: AsyncClient = AsyncMongoClient(stack.mongodb_url, tz_aware=True, w="majority")
    yield client[stack.child_env["MONGODB_DB"]]
    await client.close()


@pytest.fixture(scope="module")
async def shop(fault_stack: tuple[Stack, Supervisor]) -> Shop:
    stack, _ = fault_stack
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        admin = bearer(await login(http, ADMIN_EMAIL, ADMIN_PASSWORD))
        shoppers = [await customer_headers(http) for _ in range(SHOPPERS)]
    return Shop(base_url=stack.gateway_url, admin=admin, shoppers=shoppers)
