"""Login and refresh latency through the gateway, and whether login timing tells accounts apart.

Prints p50/p99 for logins (one client, then several at once), refreshes, and the ratio of the
median time of a login for an unknown email to one with a wrong password (1.0 = indistinguishable).
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import httpx

from bench.stack import describe, running_stack

PASSWORD = "a long and unusual benchmark passphrase"  # noqa: S105 - a throw-away account
ROUNDS = 40
CONCURRENCY = 8


async def timed(call: Callable[[], Awaitable[httpx.Response]], expected: int) -> float:
    started = time.perf_counter()
    response = await call()
    elapsed = time.perf_counter() - started
    assert response.status_code == expected, response.text
    return elapsed


async def measure(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        emails = [f"bench-{uuid.uuid4().hex[:10]}@example.com" for _ in range(CONCURRENCY)]
        for email in emails:
            body = {"email": email, "password": PASSWORD, "name": "Bench"}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201

        def login(email: str, password: str = PASSWORD) -> Callable[[], Awaitable[httpx.Response]]:
            return lambda: client.post("/api/v1/auth/login", json={"email": email, "password": password})

        serial = [await timed(login(emails[0]), 200) for _ in range(ROUNDS)]
        print(f"login, 1 client                 {describe(serial)}")

        concurrent: list[float] = []
        for _ in range(ROUNDS // CONCURRENCY * 2):
            concurrent += await asyncio.gather(*(timed(login(email), 200) for email in emails))
        print(f"login, {CONCURRENCY} clients at once        {describe(concurrent)}")

        token = (await login(emails[1])()).json()["refresh_token"]
        refreshes = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
            refreshes.append(time.perf_counter() - started)
            token = response.json()["refresh_token"]
        print(f"refresh, 1 client               {describe(refreshes)}")

        # Interleaved; failures are answered without the progressive delay (LOGIN_DELAY_MAX_SECONDS=0).
        wrong, unknown = [], []
        for round_number in range(ROUNDS // 4):
            victim = emails[2 + round_number % (CONCURRENCY - 2)]
            wrong.append(await timed(login(victim, "wrong passphrase here"), 401))
            unknown.append(await timed(login(f"nobody-{uuid.uuid4().hex}@example.com", "x" * 20), 401))
        print(f"failed login, wrong password    {describe(wrong)}")
        print(f"failed login, unknown email     {describe(unknown)}")
        print(f"unknown/wrong median ratio      {statistics.median(unknown) / statistics.median(wrong):.2f}")


def main() -> None:
    limits = {"LOGIN_DELAY_MAX_SECONDS": "0", "LOGIN_IP_CAPTCHA_AFTER_FAILURES": "0"}
    with running_stack(limits) as stack:
        asyncio.run(measure(stack.gateway_url))


if __name__ == "__main__":
    main()
