"""The proxy's single retry of idempotent requests, and the URL it forwards to."""

from __future__ import annotations

import aiohttp
import pytest

from gateway.proxy import _send, upstream_url

# --- the single retry ------------------------------------------------------------------------------


class FlakyUpstream:
    """`send_once` for `_send`: its first calls raise `failures` in turn, then it answers."""

    def __init__(self, *failures: Exception) -> None:
        self.pending = list(failures)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.pending:
            raise self.pending.pop(0)
        return "answer"


def dropped_connection() -> list[Exception]:
    """What aiohttp raises when a connection fails or drops before the answer."""
    key = aiohttp.client_reqrep.ConnectionKey("upstream", 80, False, True, None, None, None)
    return [
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused")),
        aiohttp.ClientOSError(104, "connection reset by peer"),
    ]


@pytest.mark.parametrize("dropped", dropped_connection())
async def test_a_failed_or_dropped_connection_is_retried_once_when_allowed(dropped: Exception) -> None:
    upstream = FlakyUpstream(dropped)
    assert await _send(upstream, "catalog", retry=True) == "answer"
    assert upstream.calls == 2


async def test_only_one_retry() -> None:
    upstream = FlakyUpstream(aiohttp.ServerDisconnectedError(), aiohttp.ServerDisconnectedError())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _send(upstream, "catalog", retry=True)
    assert upstream.calls == 2


async def test_no_retry_unless_allowed() -> None:
    upstream = FlakyUpstream(aiohttp.ServerDisconnectedError())
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await _send(upstream, "catalog", retry=False)
    assert upstream.calls == 1


@pytest.mark.parametrize(
    "late",
    [aiohttp.SocketTimeoutError("slow"), aiohttp.ConnectionTimeoutError("blackholed"), TimeoutError()],
)
async def test_timeouts_are_never_retried(late: Exception) -> None:
    upstream = FlakyUpstream(late)
    with pytest.raises(TimeoutError):
        await _send(upstream, "catalog", retry=True)
    assert upstream.calls == 1


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
    assert url.raw_path_qs == forwarded
    assert (url.host, url.port) == ("127.0.0.1", 8002)
