"""The proxy's single retry of idempotent requests, and the URL it forwards to."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.proxy import _send, upstream_url

# --- the single retry ------------------------------------------------------------------------------


def flaky_client(*failures: Exception) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    """A client whose first calls raise `failures` in turn, then answer 200."""
    seen: list[httpx.Request] = []
    pending = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if pending:
            raise pending.pop(0)
        return httpx.Response(200, json={"ok": True})

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), seen


def builder(client: httpx.AsyncClient, method: str = "GET") -> Any:
    return lambda: client.build_request(method, "http://upstream/api/v1/products")


@pytest.mark.parametrize(
    "dropped",
    [
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ConnectError("connection refused"),
        httpx.ReadError("connection reset by peer"),
    ],
)
async def test_a_failed_or_dropped_connection_is_retried_once_when_allowed(dropped: Exception) -> None:
    client, seen = flaky_client(dropped)
    async with client:
        response = await _send(client, builder(client), "catalog", retry=True)
    assert response.status_code == 200
    assert len(seen) == 2


async def test_only_one_retry() -> None:
    client, seen = flaky_client(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    async with client:
        with pytest.raises(httpx.ConnectError):
            await _send(client, builder(client), "catalog", retry=True)
    assert len(seen) == 2


async def test_no_retry_unless_allowed() -> None:
    client, seen = flaky_client(httpx.RemoteProtocolError("dropped"))
    async with client:
        with pytest.raises(httpx.RemoteProtocolError):
            await _send(client, builder(client, "POST"), "catalog", retry=False)
    assert len(seen) == 1


@pytest.mark.parametrize("late", [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("blackholed")])
async def test_timeouts_are_never_retried(late: Exception) -> None:
    client, seen = flaky_client(late)
    async with client:
        with pytest.raises(httpx.TimeoutException):
            await _send(client, builder(client), "catalog", retry=True)
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("raw_path", "query", "forwarded"),
    [
        (b"/api/v1/products/sku/%0E", b"", "/api/v1/products/sku/%0E"),
        (b"/api/v1/products/a%3Fb%2Fc", b"q=a%20b&limit=2", "/api/v1/products/a%3Fb%2Fc?q=a%20b&limit=2"),
        (b"/api/v1/products/\xc3\xa4 x", b"", "/api/v1/products/%C3%A4%20x"),
        (b"/api/v1/products/%2e%2e/x", b"", "/api/v1/products/%2e%2e/x"),
    ],
)
def test_the_path_is_forwarded_as_the_client_encoded_it(
    raw_path: bytes, query: bytes, forwarded: str
) -> None:
    scope = {"type": "http", "raw_path": raw_path, "path": "/unused", "query_string": query}
    url = upstream_url("http://127.0.0.1:8002", scope)
    assert url.raw_path.decode() == forwarded
    assert (url.host, url.port) == ("127.0.0.1", 8002)
