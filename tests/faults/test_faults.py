"""Faults during bursts of checkouts, payments and refunds: a killed database, a killed service, a
stalled service, a restarted gateway. Clients see only successes or retryable 503/504 problems (and,
while the gateway itself is down, failed connections to it); afterwards the shop's invariants hold.

Each test runs one burst on products of its own (tests/faults/workload.py), injects its fault once
the first answers are in, waits for the stack to recover (the launcher's supervisor restarts what
was killed), settles every unanswered call by retrying it with its key, and checks the invariants
(tests/faults/invariants.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable

import pytest

from devstack.stack import EMBEDDED_DB, Stack
from devstack.supervisor import Supervisor
from shared.db import Database
from shared.launcher_status import read_restarts
from tests.devstack.test_launcher import embedded_only
from tests.faults.invariants import check_invariants
from tests.faults.workload import Ledger, Outcomes, Recorder, Shop, make_products, run_burst

pytestmark = pytest.mark.faults

PRODUCTS = 4
STOCK = 500
FAULT_SECONDS = 60.0
FaultStack = tuple[Stack, Supervisor]


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + FAULT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {FAULT_SECONDS:.0f}s"
        await asyncio.sleep(0.05)


async def kill_and_await_restart(fault_stack: FaultStack, name: str) -> None:
    stack, supervisor = fault_stack
    before = supervisor.restarts_of(name)
    os.kill(stack.processes[name].popen.pid, signal.SIGKILL)
    await wait_for(lambda: supervisor.restarts_of(name) > before, f"{name}'s restart")


async def burst_with(
    fault_stack: FaultStack,
    db: Database,
    shop: Shop,
    fault: Callable[[Recorder], Awaitable[None]],
    *,
    gateway_fault: bool = False,
    seed: int = 0,
) -> Outcomes:
    """A burst with `fault`; checks what clients saw and the invariants; returns what they saw during it."""
    products = await make_products(shop, PRODUCTS, STOCK)
    ledger = Ledger()
    outcomes = await run_burst(shop, list(products), ledger, fault, gateway_fault=gateway_fault, seed=seed)
    print(f"\n{outcomes.summary()}")  # what clients saw (pytest -s)
    assert outcomes.bad == [], outcomes.summary()
    await check_invariants(db, shop, products, ledger)
    _, supervisor = fault_stack
    assert supervisor.failure is None
    return outcomes.during


@embedded_only
@pytest.mark.parametrize("seed", [1, 2])  # twice: the kill meets the burst at a different moment
async def test_database_killed_during_a_burst(
    fault_stack: FaultStack, fault_db: Database, shop: Shop, seed: int
) -> None:
    in_flight_at_the_kill = []

    async def kill_database(recorder: Recorder) -> None:
        in_flight_at_the_kill.append(recorder.in_flight)
        await kill_and_await_restart(fault_stack, EMBEDDED_DB)

    outcomes = await burst_with(fault_stack, fault_db, shop, kill_database, seed=seed)
    # The kill met the burst. Clients need not notice it: an outage this short is often hidden by the
    # driver's one retry of a write (or commit) after a network error.
    assert in_flight_at_the_kill[0] > 0
    assert not outcomes.gateway_unreachable


@embedded_only
async def test_database_stalled_then_resumed(fault_stack: FaultStack, fault_db: Database, shop: Shop) -> None:
    stack, _ = fault_stack

    async def stall_database(recorder: Recorder) -> None:
        pid = stack.processes[EMBEDDED_DB].popen.pid
        seen = sum(recorder.outcomes.retryable.values())
        os.kill(pid, signal.SIGSTOP)
        try:  # frozen until clients have been told to retry
            await wait_for(lambda: sum(recorder.outcomes.retryable.values()) >= seen + 3, "retryable answers")
        finally:
            os.kill(pid, signal.SIGCONT)

    outcomes = await burst_with(fault_stack, fault_db, shop, stall_database, seed=3)
    assert not outcomes.gateway_unreachable


async def test_order_service_killed_during_a_burst(
    fault_stack: FaultStack, fault_db: Database, shop: Shop
) -> None:
    async def kill_order_service(recorder: Recorder) -> None:
        await kill_and_await_restart(fault_stack, "order")

    outcomes = await burst_with(fault_stack, fault_db, shop, kill_order_service)
    assert outcomes.retryable, "no client noticed the order service going away"
    assert not outcomes.gateway_unreachable
    stack, _ = fault_stack
    assert (read_restarts(stack.settings.data_dir) or {}).get("order", 0) >= 1


async def test_order_service_stalled_past_the_gateway_timeout(
    fault_stack: FaultStack, fault_db: Database, shop: Shop
) -> None:
    stack, supervisor = fault_stack
    restarts_before = supervisor.restarts_of("order")

    async def stall_order_service(recorder: Recorder) -> None:
        pid = stack.processes["order"].popen.pid
        os.kill(pid, signal.SIGSTOP)
        try:  # frozen until a client has been told 504 by the gateway
            await asyncio.wait_for(recorder.timed_out.wait(), FAULT_SECONDS)
        finally:
            os.kill(pid, signal.SIGCONT)

    outcomes = await burst_with(fault_stack, fault_db, shop, stall_order_service)
    assert any(" 504 " in answer for answer in outcomes.retryable)
    assert not outcomes.gateway_unreachable
    assert supervisor.restarts_of("order") == restarts_before  # stalled is not dead: nothing restarted


async def test_gateway_restarted_during_a_burst(
    fault_stack: FaultStack, fault_db: Database, shop: Shop
) -> None:
    async def kill_gateway(recorder: Recorder) -> None:
        await kill_and_await_restart(fault_stack, "gateway")

    outcomes = await burst_with(fault_stack, fault_db, shop, kill_gateway, gateway_fault=True)
    assert outcomes.gateway_unreachable, "no client noticed the gateway going away"
