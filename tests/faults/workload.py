"""The shoppers' side of a fault: bursts of checkouts, payments and refunds, and what each client saw.

Every operation is a `Call` with its own Idempotency-Key, sent once during the burst. A client may see
only a success or a retryable answer (503/504 as problem+json); while the gateway itself restarts, a
failed connection to it is counted apart. After the fault, every call without a success is sent again
with the same key until it has one, as a real client would, so afterwards the suite knows every order,
payment and refund that exists and can check the shop's invariants against the database.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

PROBLEM = "application/problem+json"
RETRYABLE = frozenset({503, 504})
SETTLE_SECONDS = 90.0
RECOVERY_SECONDS = 90.0


@dataclass
class Shop:
    base_url: str
    admin: dict[str, str]
    shoppers: list[dict[str, str]]

    @asynccontextmanager
    async def client(self) -> AsyncIterator[httpx.AsyncClient]:
        """A fresh connection pool per phase: connections to a gateway killed earlier are not reused."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as http:
            yield http


@dataclass
class Call:
    """One operation to be done exactly once; retried only with the same Idempotency-Key."""

    kind: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    result: dict[str, Any] | None = None
    method: str = "POST"
    refused: str | None = None  # the first retryable answer it got, if any

    @classmethod
    def new(cls, kind: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> Call:
        return cls(kind, path, {**headers, "Idempotency-Key": uuid.uuid4().hex}, body)


@dataclass
class Outcomes:
    """What the clients saw, by operation: successes, retryable answers, dropped gateway connections,
    and anything else (which fails the test)."""

    ok: Counter[str] = field(default_factory=Counter)
    retryable: Counter[str] = field(default_factory=Counter)
    gateway_unreachable: Counter[str] = field(default_factory=Counter)
    bad: list[str] = field(default_factory=list)
    # Retries answered with the first attempt's result (Idempotent-Replayed): that attempt had been
    # carried out although its client was told to retry.
    replayed: Counter[str] = field(default_factory=Counter)
    answered: int = 0

    def summary(self) -> str:
        return (
            f"ok {dict(self.ok)}; retryable {dict(self.retryable)}; "
            f"gateway unreachable {dict(self.gateway_unreachable)}; "
            f"done although refused {dict(self.replayed)}; bad {self.bad}"
        )


class Recorder:
    """Sends calls and classifies every answer; `gateway_may_drop` while the gateway itself restarts."""

    def __init__(self, http: httpx.AsyncClient, outcomes: Outcomes, *, warm_after: int = 10) -> None:
        self.http = http
        self.outcomes = outcomes
        self.gateway_may_drop = False
        self.warm_after = warm_after
        self.warmed = asyncio.Event()  # set once `warm_after` calls were answered: time for the fault
        self.timed_out = asyncio.Event()  # set at the first 504
        self.in_flight = 0  # requests sent and not answered yet

    async def attempt(self, call: Call) -> bool:
        """Send `call` once; True when it succeeded (its result is then stored)."""
        self.in_flight += 1
        try:
            response = await self.http.request(call.method, call.path, json=call.body, headers=call.headers)
        except httpx.TransportError as exc:
            label = f"{call.kind} {type(exc).__name__}"
            call.refused = call.refused or label
            if self.gateway_may_drop:
                self.outcomes.gateway_unreachable[label] += 1
            else:
                self.outcomes.bad.append(f"{label}: {exc!r}")
            return False
        finally:
            self.in_flight -= 1
            self.outcomes.answered += 1
            if self.outcomes.answered >= self.warm_after:
                self.warmed.set()
        return self._classify(call, response)

    def _classify(self, call: Call, response: httpx.Response) -> bool:
        content_type = response.headers.get("content-type", "")
        if response.is_success and content_type.startswith("application/json"):
            self.outcomes.ok[call.kind] += 1
            call.result = response.json()
            if call.refused and response.headers.get("Idempotent-Replayed") == "true":
                self.outcomes.replayed[f"{call.kind} after {call.refused}"] += 1
            return True
        problem_type = _problem_type(response) if content_type.startswith(PROBLEM) else None
        if response.status_code in RETRYABLE and problem_type:
            label = f"{call.kind} {response.status_code} {problem_type}"
            self.outcomes.retryable[label] += 1
            call.refused = call.refused or label
            if response.status_code == 504:
                self.timed_out.set()
            return False
        self.outcomes.bad.append(
            f"{call.kind}: {response.status_code} {content_type!r} {response.text[:300]!r}"
        )
        return False

    async def settle(self, calls: list[Call]) -> None:
        """Send each unanswered call again, same key, until it succeeds (bounded)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        for call in calls:
            while call.result is None:
                assert time.monotonic() < deadline, f"{call.kind} {call.path} never succeeded on retry"
                if not await self.attempt(call):
                    await asyncio.sleep(0.25)  # Retry-After is 1 s; the suite need not wait that long


def _problem_type(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    return kind if isinstance(kind, str) and body.get("status") == response.status_code else None


@dataclass
class Burst:
    """What clients saw during the fault, and then while retrying what had no answer."""

    during: Outcomes
    retrying: Outcomes

    @property
    def bad(self) -> list[str]:
        return self.during.bad + self.retrying.bad

    def summary(self) -> str:
        return f"during the fault: {self.during.summary()}\nretrying after it: {self.retrying.summary()}"


@dataclass
class Ledger:
    """Every call of a test, by kind, to check against the database afterwards."""

    checkouts: list[Call] = field(default_factory=list)
    payments: list[Call] = field(default_factory=list)
    completions: list[Call] = field(default_factory=list)
    refunds: list[Call] = field(default_factory=list)


def checkout(shopper: dict[str, str], lines: list[tuple[str, int]]) -> Call:
    items = [{"product_id": product_id, "quantity": quantity} for product_id, quantity in lines]
    return Call.new("checkout", "/api/v1/orders", shopper, {"items": items})


def payment(shopper: dict[str, str], order_id: str) -> Call:
    return Call.new("pay", "/api/v1/payments", shopper, {"order_id": order_id, "provider": "sandbox"})


def completion(shopper: dict[str, str], payment_id: str) -> Call:
    """The shopper confirms at the sandbox (as the payment's owner), which settles the payment."""
    path = f"/api/v1/payments/sandbox/{payment_id}/complete"
    return Call("complete", path, dict(shopper), {"outcome": "succeeded"})


def refund(admin: dict[str, str], payment_id: str, product_id: str) -> Call:
    body = {"items": [{"product_id": product_id, "quantity": 1}], "reason": "fault suite"}
    return Call.new("refund", f"/api/v1/payments/{payment_id}/refunds", admin, body)


def browsing(shopper: dict[str, str], order_id: str | None) -> list[Call]:
    """What a shopper reads between checkouts: the catalog (anonymous) and their latest order."""
    reads = [Call("browse", "/api/v1/products?limit=5", {}, None, method="GET")]
    if order_id:
        reads.append(Call("read-order", f"/api/v1/orders/{order_id}", dict(shopper), None, method="GET"))
    return reads


def random_lines(rng: random.Random, product_ids: list[str]) -> list[tuple[str, int]]:
    chosen = rng.sample(product_ids, rng.randint(1, min(2, len(product_ids))))
    return [(product_id, rng.randint(1, 3)) for product_id in chosen]


async def make_products(shop: Shop, count: int, stock: int) -> dict[str, int]:
    """Fresh products of the test: id -> starting stock."""
    async with shop.client() as http:
        products = {}
        for _ in range(count):
            body = {
                "sku": f"FAULT-{uuid.uuid4().hex[:12]}",
                "name": "Fault suite product",
                "description": "",
                "price": {"amount": 700, "currency": "BDT"},
                "stock": stock,
            }
            response = await http.post("/api/v1/products", json=body, headers=shop.admin)
            assert response.status_code == 201, response.text
            products[response.json()["id"]] = stock
        return products


async def prepare(
    shop: Shop, product_ids: list[str], ledger: Ledger, rng: random.Random
) -> tuple[list[tuple[dict[str, str], str]], list[tuple[str, str]]]:
    """Before the fault, for every shopper: an unpaid order (to pay during the burst) and a paid one
    (to refund during it). Returns (shopper, order id) to pay and (payment id, product id) to refund."""
    async with shop.client() as http:
        recorder = Recorder(http, Outcomes())

        async def orders_of(shopper: dict[str, str]) -> tuple[tuple[dict[str, str], str], tuple[str, str]]:
            unpaid, paid = (
                checkout(shopper, random_lines(rng, product_ids)),
                checkout(shopper, [(product_ids[0], 2)]),
            )
            ledger.checkouts += [unpaid, paid]
            await recorder.settle([unpaid, paid])
            pay = payment(shopper, result_id(paid))
            ledger.payments.append(pay)
            await recorder.settle([pay])
            done = completion(shopper, result_id(pay))
            ledger.completions.append(done)
            await recorder.settle([done])
            return (shopper, result_id(unpaid)), (result_id(pay), product_ids[0])

        prepared = await asyncio.gather(*(orders_of(shopper) for shopper in shop.shoppers))
        assert not recorder.outcomes.bad, recorder.outcomes.summary()
        return [to_pay for to_pay, _ in prepared], [to_refund for _, to_refund in prepared]


def result_id(call: Call) -> str:
    assert call.result is not None, f"{call.kind} has no answer yet"
    identifier: str = call.result["id"]
    return identifier


async def run_burst(
    shop: Shop,
    product_ids: list[str],
    ledger: Ledger,
    fault: Callable[[Recorder], Awaitable[None]],
    *,
    gateway_fault: bool = False,
    checkouts_per_shopper: int = 6,
    seed: int = 0,
) -> Burst:
    """Checkouts from every shopper at once, payments and refunds in flight, and `fault` injected once
    the first answers are in; then recovery, and every unanswered call settled by retrying it."""
    rng = random.Random(seed)
    to_pay, to_refund = await prepare(shop, product_ids, ledger, rng)
    outcomes = Outcomes()
    async with shop.client() as http:
        recorder = Recorder(http, outcomes)
        recorder.gateway_may_drop = gateway_fault

        async def shopper_checkouts(shopper: dict[str, str]) -> None:
            for _ in range(checkouts_per_shopper):
                call = checkout(shopper, random_lines(rng, product_ids))
                ledger.checkouts.append(call)
                await recorder.attempt(call)
                for read in browsing(shopper, call.result["id"] if call.result else None):
                    await recorder.attempt(read)

        async def pay_during_fault(shopper: dict[str, str], order_id: str) -> None:
            await recorder.warmed.wait()
            call = payment(shopper, order_id)
            ledger.payments.append(call)
            if await recorder.attempt(call) and call.result:
                done = completion(shopper, call.result["id"])
                ledger.completions.append(done)
                await recorder.attempt(done)

        async def refund_during_fault(payment_id: str, product_id: str) -> None:
            await recorder.warmed.wait()
            call = refund(shop.admin, payment_id, product_id)
            ledger.refunds.append(call)
            await recorder.attempt(call)

        async def inject() -> None:
            await recorder.warmed.wait()
            await fault(recorder)

        await asyncio.gather(
            inject(),
            *(shopper_checkouts(shopper) for shopper in shop.shoppers),
            *(pay_during_fault(shopper, order_id) for shopper, order_id in to_pay),
            *(refund_during_fault(payment_id, product_id) for payment_id, product_id in to_refund),
        )
    await wait_healthy(shop)
    retrying = Outcomes()
    async with shop.client() as http:
        settler = Recorder(http, retrying)
        settler.gateway_may_drop = gateway_fault
        await settler.settle(ledger.checkouts + ledger.payments)
        owners = {call.result["id"]: call.headers for call in ledger.payments if call.result}
        completed = {call.path for call in ledger.completions}
        for payment_id, headers in owners.items():
            done = completion({"Authorization": headers["Authorization"]}, payment_id)
            if done.path not in completed:
                ledger.completions.append(done)
        await settler.settle(ledger.completions + ledger.refunds)
    return Burst(outcomes, retrying)


async def wait_healthy(shop: Shop) -> None:
    """Until the gateway's /health is 200 (every service ready), bounded."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    async with shop.client() as http:
        while True:
            try:
                if (await http.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # the gateway itself may still be coming back
            assert time.monotonic() < deadline, "the stack did not recover"
            await asyncio.sleep(0.1)
