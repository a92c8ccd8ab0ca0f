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
    ("path", "query", "forwarded"),
    [
        ("/api/v1/products/a?b", b"q=a%20b&limit=2", "/api/v1/products/a%3Fb?q=a%20b&limit=2"),
        ("/api/v1/products/\u00e4 x", b"", "/api/v1/products/%C3%A4%20x"),
        ("/api/v1/products/100%", b"", "/api/v1/products/100%25"),
        ("/api/v1/products/a#b", b"", "/api/v1/products/a%23b"),
        ("/api/v1/products/a:b@c;d=e", b"", "/api/v1/products/a:b@c;d=e"),
    ],
)
def test_the_checked_path_is_forwarded_in_one_spelling(path: str, query: bytes, forwarded: str) -> None:
    """The service gets the decoded path every gateway rule saw, escaped once: a decoded `%`, `?` or
    `#` never turns into an escape, a query or a fragment on the way out."""
    scope = {"type": "http", "raw_path": b"/ignored", "path": path, "query_string": query}
    url = upstream_url("http://127.0.0.1:8002", scope)
    assert url.raw_path.decode() == forwarded
    assert (url.host, url.port) == ("127.0.0.1", 8002)
