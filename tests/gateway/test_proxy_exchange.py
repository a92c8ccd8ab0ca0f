"""The proxy's exchange with a service, against a local upstream speaking raw HTTP/1.1: the client's
body is received whole before an early answer is passed on, no cookie is kept between clients, only
GET and HEAD are sent twice, and answers stream through."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from starlette.types import Message

from gateway.breaker import breakers_for
from gateway.clients import TrustedProxies
from gateway.proxy import Forwarder, create_http_client
from gateway.settings import GatewaySettings
from shared.body_limit import BodyGuard, PayloadTooLarge
from shared.errors import UpstreamUnavailable

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Upstream"], Awaitable[None]]


class Upstream:
    """A service on a free port; every request head it reads is kept in `heads`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.heads: list[bytes] = []
        self.answered = asyncio.Event()

    async def read_head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.handler(reader, writer, self)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answer(status: str, body: bytes = b"", headers: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


@asynccontextmanager
async def forwarder_to(
    handler: Handler, host: str = "127.0.0.1"
) -> AsyncIterator[tuple[Forwarder, Upstream]]:
    upstream = Upstream(handler)
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    kwargs: dict[str, Any] = {"env": "test", "internal_token": "t" * 40}
    settings = GatewaySettings(_env_file=None, catalog_service_url=f"http://{host}:{port}", **kwargs)
    breakers = breakers_for(settings.upstream_urls(), 5, 10.0)
    try:
        async with create_http_client(settings) as session:
            yield Forwarder(session, settings, breakers, TrustedProxies()), upstream
    finally:
        server.close()
        await server.wait_closed()


def scope(method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/api/v1/products/1",
        "query_string": b"",
        "scheme": "http",
        "headers": [(b"host", b"shop.example"), *(headers or [])],
        "client": ("203.0.113.9", 5555),
        "state": {"request_id": "rid-1"},
    }


class Client:
    """The client side of one request: what it sends (`receive`) and what it gets (`send`)."""

    def __init__(self, chunks: list[bytes], hold_last: asyncio.Event | None = None) -> None:
        self.chunks = list(chunks)
        self.hold_last = hold_last
        self.events: list[str] = []
        self.messages: list[Message] = []

    async def receive(self) -> Message:
        if not self.chunks:
            await asyncio.Event().wait()  # after the body: only a disconnect would come
        if len(self.chunks) == 1 and self.hold_last is not None:
            await self.hold_last.wait()
        chunk = self.chunks.pop(0)
        if not self.chunks:
            self.events.append("body sent")
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.events.append(f"answer {message['status']}")
        self.messages.append(message)

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.messages if m["type"] == "http.response.body")


async def turns_until(condition: Callable[[], bool], turns: int = 200) -> None:
    """Let the event loop run (no clock involved) until `condition` holds, at most `turns` times."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)


async def answers_before_reading(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream
) -> None:
    """Answers 404 as soon as the head is in (as a service does for an unknown path), then keeps
    reading whatever comes."""
    await upstream.read_head(reader)
    writer.write(answer("404 Not Found", b"{}"))
    await writer.drain()
    upstream.answered.set()
    while await reader.read(65536):
        pass


async def test_an_early_answer_waits_for_the_whole_upload() -> None:
    """The request holds its in-flight slot until the client's body is in, as it always has."""
    release = asyncio.Event()
    client = Client([b"{", b'"a": 1', b"}"], hold_last=release)
    async with forwarder_to(answers_before_reading) as (forwarder, upstream):
        request = scope("POST", [(b"transfer-encoding", b"chunked")])
        forwarding = asyncio.create_task(forwarder(request, client.receive, client.send, "catalog"))
        await upstream.answered.wait()
        await turns_until(lambda: bool(client.messages))  # time to pass the answer on, were it to
        release.set()
        await forwarding
    assert client.events == ["body sent", "answer 404"]
    assert client.body == b"{}"


async def test_a_body_over_the_limit_after_an_early_answer_is_still_refused() -> None:
    release = asyncio.Event()
    client = Client([b"x" * 10, b"x" * 10, b"x" * 10], hold_last=release)
    guard = BodyGuard(client.receive, limit=25, timeout_seconds=30)
    async with forwarder_to(answers_before_reading) as (forwarder, upstream):
        request = scope("POST", [(b"transfer-encoding", b"chunked")])
        forwarding = asyncio.create_task(forwarder(request, guard.receive, client.send, "catalog"))
        await upstream.answered.wait()
        await turns_until(lambda: bool(client.messages))
        release.set()
        with pytest.raises(PayloadTooLarge):
            await forwarding
    assert client.messages == []  # nothing of the service's answer went out: the 413 will


async def sets_a_cookie(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream
) -> None:
    while True:
        await upstream.read_head(reader)
        writer.write(answer("200 OK", b"{}", "Set-Cookie: refresh_token=someone-elses; Path=/\r\n"))
        await writer.drain()


async def test_no_cookie_of_one_client_is_sent_with_another_clients_request() -> None:
    # By name, as services are reached in production: cookie jars keep no cookies of bare IPs.
    async with forwarder_to(sets_a_cookie, host="localhost") as (forwarder, upstream):
        first, second = Client([]), Client([])
        await forwarder(scope(), first.receive, first.send, "catalog")
        await forwarder(scope(), second.receive, second.send, "catalog")
    start = first.messages[0]
    assert (b"set-cookie", b"refresh_token=someone-elses; Path=/") in start["headers"]  # passed on
    assert len(upstream.heads) == 2
    assert b"cookie" not in upstream.heads[1].lower().replace(b"set-cookie", b"")


async def drops_the_first_request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream
) -> None:
    head = await upstream.read_head(reader)
    if len(upstream.heads) == 1:
        return  # closed without a word
    body = b"" if head.startswith(b"HEAD ") else b"{}"  # an answer to HEAD has no body
    writer.write(answer("200 OK", body).replace(b"Content-Length: 0", b"Content-Length: 2"))
    await writer.drain()


@pytest.mark.parametrize(("method", "sent"), [("GET", 2), ("HEAD", 2), ("PUT", 1), ("DELETE", 1)])
async def test_only_get_and_head_are_sent_again_after_a_dropped_connection(method: str, sent: int) -> None:
    async with forwarder_to(drops_the_first_request) as (forwarder, upstream):
        client = Client([])
        if sent == 2:
            await forwarder(scope(method), client.receive, client.send, "catalog")
            assert client.events == ["answer 200"]
        else:
            with pytest.raises(UpstreamUnavailable):
                await forwarder(scope(method), client.receive, client.send, "catalog")
    assert len(upstream.heads) == sent


async def streams_slowly(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream
) -> None:
    await upstream.read_head(reader)
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    for part in (b"one,", b"two,", b"three"):
        writer.write(b"%x\r\n%s\r\n" % (len(part), part))
        await writer.drain()
        await asyncio.sleep(0)  # separate reads at the gateway
    writer.write(b"0\r\n\r\n")
    await writer.drain()


async def test_an_answer_in_several_reads_streams_through_whole() -> None:
    async with forwarder_to(streams_slowly) as (forwarder, _):
        client = Client([])
        await forwarder(scope(), client.receive, client.send, "catalog")
    assert client.body == b"one,two,three"
    start = client.messages[0]
    assert b"transfer-encoding" not in dict(start["headers"])  # one hop's framing, redone by our server
    assert client.messages[-1] == {"type": "http.response.body", "body": b"", "more_body": False}


async def test_a_client_that_leaves_mid_answer_stops_the_reading_of_the_service() -> None:
    first_chunk_out, closed_by_gateway = asyncio.Event(), asyncio.Event()

    async def streams_until_closed(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: Upstream
    ) -> None:
        await upstream.read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await reader.read()  # b"" once the gateway closes the connection: the answer never ends
        closed_by_gateway.set()

    class LeavingClient(Client):
        async def receive(self) -> Message:
            await first_chunk_out.wait()
            return {"type": "http.disconnect"}

        async def send(self, message: Message) -> None:
            await super().send(message)
            if message.get("body"):
                first_chunk_out.set()

    async with forwarder_to(streams_until_closed) as (forwarder, _):
        client = LeavingClient([])
        async with asyncio.timeout(30):  # only so that a regression fails instead of hanging
            await forwarder(scope(), client.receive, client.send, "catalog")
            await closed_by_gateway.wait()
    assert client.body == b"first"
