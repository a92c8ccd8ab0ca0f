"""The two streams of a proxied exchange: the client's body up to the service, the answer back down.

aiohttp writes the request body in a task of its own while it already reads the answer, and when
the service answers before reading the body (a 404, a 401, its own 413) it cancels that task. The
gateway keeps the behaviour it has always had, which its protections rely on: the client's whole
body is received (within the body limits, whose 413 or 408 then replaces the early answer) before
the answer is passed on, so a request holds its in-flight slot until its upload is over. For that
the body is read from the client by a task of the gateway's own (`RequestBody`) that aiohttp cannot
cancel, one chunk ahead of what the service has taken.

The answer is streamed back as it arrives: in one message when it came in one read (the usual
case); a longer one stops being read from the service as soon as the client goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

import aiohttp
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Send

_END = object()  # after the last chunk


class RequestBody:
    """The client's body as the upstream request's payload (`chunks()`). `finish()` then waits for
    the rest of it, discarded, when the service answered before taking it all; `error` says why it
    stopped early (a body limit of shared/body_limit.py, or the client leaving)."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._chunks: asyncio.Queue[object] = asyncio.Queue(maxsize=1)  # backpressure from the service
        self._reader: asyncio.Task[None] | None = None
        self._discard = False
        self.error: Exception | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        self._start()
        while (item := await self._chunks.get()) is not _END:
            if isinstance(item, Exception):
                raise item  # aborts the upload: the service sees a truncated body, never a whole one
            assert isinstance(item, bytes)
            yield item

    async def finish(self) -> None:
        """Receive what is left of the body, discarding it (the service has answered already)."""
        self._discard = True
        self._start()
        while not self._chunks.empty():  # frees a reader waiting for room
            self._chunks.get_nowait()
        assert self._reader is not None
        await self._reader

    def cancel(self) -> None:
        if self._reader is not None:
            self._reader.cancel()

    def _start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        outcome: object = _END
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                chunk: bytes = message.get("body", b"")
                if chunk and not self._discard:
                    await self._chunks.put(chunk)
                if not message.get("more_body", False):
                    break
        except Exception as exc:
            self.error = exc
            outcome = exc
        if not self._discard:
            await self._chunks.put(outcome)


async def relay(upstream: aiohttp.ClientResponse, receive: Receive, send: Send) -> None:
    """Stream the service's answer to the client (the request body has been received whole)."""
    await send(
        {"type": "http.response.start", "status": upstream.status, "headers": _kept(upstream.raw_headers)}
    )
    content = upstream.content
    chunk = await content.readany()
    if content.at_eof():
        await send({"type": "http.response.body", "body": chunk, "more_body": False})
        return
    await send({"type": "http.response.body", "body": chunk, "more_body": True})
    rest = asyncio.ensure_future(_stream_rest(content, send))
    gone = asyncio.ensure_future(_client_gone(receive))
    try:
        await asyncio.wait((rest, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (rest, gone):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if rest.cancelled():
        return  # the client left: nobody to answer
    rest.result()  # the service failing mid-answer, if it did


async def _stream_rest(content: aiohttp.StreamReader, send: Send) -> None:
    while chunk := await content.readany():
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _client_gone(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


# Connection-level headers (RFC 9110 §7.6.1) belong to one hop and are never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    }
)
# The gateway's own server adds these; passing the service's would duplicate them.
RESPONSE_DROPPED = frozenset(name.encode() for name in HOP_BY_HOP | {"date", "server"})


def _kept(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The service's headers as sent, minus RESPONSE_DROPPED, with lower-case names (ASGI's form,
    which the header-rewriting middleware relies on to replace rather than duplicate)."""
    kept = []
    for name, value in raw:
        lower = name.lower()
        if lower not in RESPONSE_DROPPED:
            kept.append((lower, value))
    return kept
