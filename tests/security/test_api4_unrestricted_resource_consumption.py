"""API4:2023 Unrestricted resource consumption.

What one request may cost is bounded: bodies (at the gateway and again at each service), lists in
request schemas, and error answers, which never grow with a hostile input (a 1 MiB body of 100,000
bad items once got a 73 MB answer, and four at once took the order service to 1 GiB). What one
customer may hold (stock in open orders) and try (payments per order) is capped.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack
from shared.errors import MAX_REPORTED_ERRORS
from tests.builders import customer_headers
from tests.conftest import internal_headers

MIB = 1024 * 1024
BAD_ITEM = {"product_id": "not-an-id", "quantity": -1, "extra": "x" * 10}


def hostile_order(size: int) -> bytes:
    """An order body of about `size` bytes whose every item is invalid three ways."""
    item = json.dumps(BAD_ITEM)
    count = size // (len(item) + 1)
    return ('{"items": [' + ",".join([item] * count) + "]}").encode()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def assert_small_validation_problem(response: httpx.Response) -> None:
    assert response.status_code == 422, response.text[:500]
    assert response.headers["content-type"] == "application/problem+json"
    assert len(response.content) < 20_000
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert len(body["errors"]) <= MAX_REPORTED_ERRORS


async def test_a_huge_malformed_order_gets_a_small_answer(gateway: httpx.AsyncClient) -> None:
    headers = {
        **(await customer_headers(gateway)),
        "Idempotency-Key": "huge",
        "Content-Type": "application/json",
    }
    response = await gateway.post("/api/v1/orders", content=hostile_order(MIB - 1024), headers=headers)
    assert_small_validation_problem(response)


async def test_many_field_errors_are_reported_up_to_the_cap(gateway: httpx.AsyncClient) -> None:
    """Within the list bounds, every item wrong: the answer names the first errors and the count."""
    headers = {**(await customer_headers(gateway)), "Idempotency-Key": "many"}
    body = {"items": [BAD_ITEM] * 40}
    response = await gateway.post("/api/v1/orders", json=body, headers=headers)
    assert_small_validation_problem(response)
    problem = response.json()
    assert len(problem["errors"]) == MAX_REPORTED_ERRORS
    assert problem["error_count"] > MAX_REPORTED_ERRORS


async def test_hostile_bodies_at_once_leave_the_order_service_flat(
    stack: Stack, gateway: httpx.AsyncClient
) -> None:
    """Four 1 MiB hostile bodies at once, straight at the order service (as the gateway would send
    them): small answers, and the service's memory does not follow the input."""
    pid = stack.processes["order"].popen.pid
    headers = {**(await customer_headers(gateway)), **internal_headers(), "Content-Type": "application/json"}
    body = hostile_order(MIB - 1024)
    before = rss_bytes(pid)
    async with httpx.AsyncClient(base_url=stack.url_of("order"), timeout=60) as direct:
        answers = await asyncio.gather(
            *(
                direct.post("/api/v1/orders", content=body, headers={**headers, "Idempotency-Key": f"h{n}"})
                for n in range(4)
            )
        )
    for answer in answers:
        assert_small_validation_problem(answer)
    assert rss_bytes(pid) - before < 100 * MIB


@pytest.mark.parametrize("service", ["auth", "order", "payment"])
async def test_services_refuse_oversized_bodies_even_from_the_gateway(stack: Stack, service: str) -> None:
    """The second line: a caller holding the internal token still cannot send more than the limit
    (a 5.9 MB body was once accepted by a service port)."""
    path = {"auth": "/api/v1/auth/login", "order": "/api/v1/orders", "payment": "/api/v1/payments"}[service]
    async with httpx.AsyncClient(base_url=stack.url_of(service), timeout=60) as direct:
        response = await direct.post(
            path,
            content=b"[" + b" " * (6 * MIB) + b"]",
            headers={**internal_headers(), "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert response.json()["type"] == "/problems/payload-too-large"
