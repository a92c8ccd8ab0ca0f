"""The gateway's server protocol bounds the request head it buffers (httptools alone does not)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from gateway import server
from gateway.server import BoundedHttpToolsProtocol

LIMIT = 4096


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


SEEN: list[Scope] = []


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    SEEN.append(scope)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def connect(protocol_class: type[HttpToolsProtocol]) -> tuple[HttpToolsProtocol, FakeTransport]:
    config = Config(app=app, http=protocol_class, lifespan="off", access_log=False)
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = FakeTransport()
    protocol.connection_made(transport)
    return protocol, transport


@pytest.fixture(autouse=True)
def small_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "max_request_head_bytes", lambda: LIMIT)


def trickle(protocol: HttpToolsProtocol, head: bytes, piece: int = 512) -> None:
    for start in range(0, len(head), piece):
        protocol.data_received(head[start : start + piece])


async def answered(transport: FakeTransport) -> bytes:
    for _ in range(100):  # the app runs as a task: let it
        if transport.written:
            break
        await asyncio.sleep(0)
    return transport.written


def giant_head(size: int) -> bytes:
    return b"GET /health HTTP/1.1\r\nHost: shop\r\nX-Giant: " + b"x" * size + b"\r\n\r\n"


async def test_a_head_past_the_bound_is_refused_before_it_is_complete() -> None:
    protocol, transport = connect(BoundedHttpToolsProtocol)
    trickle(protocol, giant_head(10 * LIMIT)[: 2 * LIMIT])  # still incomplete: no end of headers yet
    assert transport.written.startswith(b"HTTP/1.1 400 ")
    assert transport.closed


async def test_plain_httptools_buffers_it_all() -> None:
    """Why the subclass exists: the same head is taken whole by uvicorn's own protocol."""
    protocol, transport = connect(HttpToolsProtocol)
    trickle(protocol, giant_head(10 * LIMIT)[: 2 * LIMIT])
    assert transport.written == b""
    assert not transport.closed


async def test_heads_within_the_bound_are_served_one_after_another() -> None:
    protocol, transport = connect(BoundedHttpToolsProtocol)
    for _ in range(3):  # the count starts again with every request on the connection
        transport.written = b""
        trickle(protocol, giant_head(LIMIT - 200))
        assert (await answered(transport)).startswith(b"HTTP/1.1 200 ")
    assert not transport.closed


async def test_a_body_does_not_count_as_head() -> None:
    protocol, transport = connect(BoundedHttpToolsProtocol)
    body = b"x" * (4 * LIMIT)
    head = b"POST /upload HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n" % len(body)
    trickle(protocol, head + body)
    assert (await answered(transport)).startswith(b"HTTP/1.1 200 ")
    assert not transport.closed


async def test_an_absolute_form_target_reaches_the_app_whole() -> None:
    """httptools reduces `http://host/path` to `/path`; the gateway's path check must see it all."""
    protocol, transport = connect(BoundedHttpToolsProtocol)
    SEEN.clear()
    protocol.data_received(b"GET http://169.254.169.254/latest/meta-data/?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
    await answered(transport)
    assert SEEN[0]["raw_path"] == b"http://169.254.169.254/latest/meta-data/"
    assert SEEN[0]["path"] == "http://169.254.169.254/latest/meta-data/"
    assert SEEN[0]["query_string"] == b"x=1"


async def test_an_origin_form_target_is_left_as_httptools_parsed_it() -> None:
    protocol, transport = connect(BoundedHttpToolsProtocol)
    SEEN.clear()
    protocol.data_received(b"GET /api/v1/products/a%20b?q=1 HTTP/1.1\r\nHost: a\r\n\r\n")
    await answered(transport)
    assert (SEEN[0]["raw_path"], SEEN[0]["path"]) == (b"/api/v1/products/a%20b", "/api/v1/products/a b")
