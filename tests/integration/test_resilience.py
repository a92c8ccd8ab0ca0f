"""The proxy's resilience: circuit breakers that fail fast, one retry for idempotent requests only,
per-route upstream timeouts.

A gateway of its own is started whose catalog is a port nobody listens on (until a test starts a
server there), whose order service is a tiny local HTTP server that can drop connections or answer
slowly, and whose auth and payment services are the real ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from devstack.stack import Stack, free_port
from tests.conftest import GATEWAY_TEST_SETTINGS, stack_settings

PROBLEM = "application/problem+json"
FAILURES = 3
RESET_SECONDS = 3.0
PRODUCT = "/api/v1/products/665f1c2ab8e4d1a9c3f0b7d2"
SLOW_SECONDS = 1.5


@dataclass
class TinyUpstream:
    """An HTTP/1.1 server that answers every request 200 (closing the connection), except that it
    drops the next `drop_next` connections after reading their request, and answers paths containing
    `/slow` only after SLOW_SECONDS."""

    drop_next: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def seen(self, method: str, path: str) -> int:
        return self.requests.count((method, path))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ", 2)[:2]
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            request = (method.decode(), path.decode())
            self.requests.append(request)
            if self.drop_next > 0:
                self.drop_next -= 1
                return  # closed below without a word: the client sees a dropped connection
            if b"/slow" in path:
                await asyncio.sleep(SLOW_SECONDS)
            body = b'{"answered": true}'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                + f"content-length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


@pytest.fixture(scope="module")
async def order_upstream() -> AsyncIterator[tuple[TinyUpstream, int]]:
    upstream = TinyUpstream()
    port = await upstream.start()
    yield upstream, port
    await upstream.stop()


@pytest.fixture(scope="module")
def dead_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def resilient_gateway(
    stack: Stack,
    order_upstream: tuple[TinyUpstream, int],
    dead_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("resilience")
    extra = Stack(stack_settings(root / "data"), env={"ENV": "test"}, log_dir=root / "logs")
    env = {
        **GATEWAY_TEST_SETTINGS,
        "AUTH_SERVICE_URL": stack.url_of("auth"),
        "CATALOG_SERVICE_URL": f"http://127.0.0.1:{dead_port}",
        "ORDER_SERVICE_URL": f"http://127.0.0.1:{order_upstream[1]}",
        "PAYMENT_SERVICE_URL": stack.url_of("payment"),
        "BREAKER_FAILURES": str(FAILURES),
        "BREAKER_RESET_SECONDS": str(RESET_SECONDS),
        "UPSTREAM_READ_TIMEOUT_SECONDS": "1",
        "UPSTREAM_ROUTE_TIMEOUTS": "/api/v1/orders/patient=5",
        "HEALTH_CHECK_TIMEOUT_SECONDS": "1",
    }
    try:
        extra.start_app("gateway", env=env)
        yield extra.gateway_url
    finally:
        extra.stop()


async def breakers(client: httpx.AsyncClient) -> dict[str, str]:
    body: dict[str, dict[str, str]] = (await client.get("/health")).json()
    return body["breakers"]


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/upstream-unavailable"


async def test_a_dead_service_fails_fast_once_its_breaker_opens_and_recovers(
    resilient_gateway: str, dead_port: int
) -> None:
    async with httpx.AsyncClient(base_url=resilient_gateway, timeout=10) as client:
        for _ in range(FAILURES):
            assert_unavailable(await client.get(PRODUCT))
        # Open now: the gateway refuses without trying. A server appearing on the port meanwhile
        # proves it: it is not asked until the reset time has passed.
        opened_at = time.monotonic()
        revived = TinyUpstream()
        await revived.start(dead_port)
        try:
            started = time.perf_counter()
            refused = await client.get(PRODUCT)
            print(f"open breaker answered in {(time.perf_counter() - started) * 1000:.1f} ms")
            assert_unavailable(refused)
            assert 1 <= int(refused.headers["retry-after"]) <= RESET_SECONDS
            assert "repeated failures" in refused.json()["detail"]
            assert revived.requests == []
            health = (await client.get("/health")).json()
            assert health["breakers"]["catalog"] == "open"
            assert health["services"]["catalog"] == "ready"  # readiness is probed regardless

            # Other routes keep working meanwhile.
            keys = await client.get("/api/v1/auth/.well-known/jwks.json")
            assert keys.status_code == 200
            assert (await breakers(client))["auth"] == "closed"

            # After the reset time one trial goes through; its success closes the breaker.
            await asyncio.sleep(max(0.0, RESET_SECONDS + 0.2 - (time.monotonic() - opened_at)))
            assert (await breakers(client))["catalog"] == "half_open"
            trial = await client.get(PRODUCT)
            assert trial.status_code == 200
            assert revived.seen("GET", PRODUCT) == 1
            assert (await breakers(client))["catalog"] == "closed"
        finally:
            await revived.stop()


async def test_a_get_whose_connection_drops_is_retried_once(
    resilient_gateway: str, order_upstream: tuple[TinyUpstream, int]
) -> None:
    upstream, _ = order_upstream
    path = "/api/v1/orders/dropped-once"
    upstream.drop_next = 1
    async with httpx.AsyncClient(base_url=resilient_gateway, timeout=10) as client:
        response = await client.get(path)
    assert response.status_code == 200
    assert response.json() == {"answered": True}
    assert upstream.seen("GET", path) == 2


async def test_a_get_dropped_twice_is_not_retried_again(
    resilient_gateway: str, order_upstream: tuple[TinyUpstream, int]
) -> None:
    upstream, _ = order_upstream
    path = "/api/v1/orders/dropped-twice"
    upstream.drop_next = 2
    async with httpx.AsyncClient(base_url=resilient_gateway, timeout=10) as client:
        assert_unavailable(await client.get(path))
        assert (await client.get(path)).status_code == 200  # the breaker counted one failure, not two
    assert upstream.seen("GET", path) == 3


async def test_a_post_whose_connection_drops_is_never_retried(
    resilient_gateway: str, order_upstream: tuple[TinyUpstream, int]
) -> None:
    upstream, _ = order_upstream
    upstream.drop_next = 1
    body = {"items": [{"product_id": "665f1c2ab8e4d1a9c3f0b7d2", "quantity": 1}]}
    async with httpx.AsyncClient(base_url=resilient_gateway, timeout=10) as client:
        dropped = await client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "drop-1"})
        assert_unavailable(dropped)
        assert upstream.seen("POST", "/api/v1/orders") == 1
        again = await client.post("/api/v1/orders", json=body, headers={"Idempotency-Key": "drop-1"})
    assert again.status_code == 200
    assert upstream.seen("POST", "/api/v1/orders") == 2


async def test_a_timeout_is_not_retried_and_routes_can_wait_longer(
    resilient_gateway: str, order_upstream: tuple[TinyUpstream, int]
) -> None:
    upstream, _ = order_upstream
    async with httpx.AsyncClient(base_url=resilient_gateway, timeout=10) as client:
        late = await client.get("/api/v1/orders/slow")
        assert late.status_code == 504
        assert late.json()["type"] == "/problems/upstream-timeout"
        # UPSTREAM_ROUTE_TIMEOUTS gives this prefix 5 s instead of 1 s.
        patient = await client.get("/api/v1/orders/patient/slow")
        assert patient.status_code == 200
        assert (await breakers(client))["order"] == "closed"
    assert upstream.seen("GET", "/api/v1/orders/slow") == 1
