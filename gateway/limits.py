"""Size and time limits on what a client may send: URL (414), headers (431), body (413, 408).

Heads far beyond these limits are already refused by the server (uvicorn's h11 limit, see
devstack/stack.py); these checks answer problem+json for everything the server lets through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import HeadersTooLarge, PayloadTooLarge, RequestBodyTimeout, UriTooLong, problem_for
from gateway.routing import longest_prefix


def url_bytes(scope: Scope) -> int:
    """Bytes of the request target as sent: the raw path, and `?query` when there is one."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return len(raw_path) + (1 + len(query) if query else 0)


def header_bytes(scope: Scope) -> int:
    """Bytes of the header section as sent (`name: value\\r\\n` per field)."""
    return sum(len(name) + len(value) + 4 for name, value in scope["headers"])


class HeadLimitsMiddleware:
    """414 for a URL over `max_url_bytes`, 431 for headers over `max_header_bytes`."""

    def __init__(self, app: ASGIApp, max_url_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if url_bytes(scope) > self.max_url_bytes:
                # No `instance`: echoing a huge URL back would defeat the point.
                too_long = UriTooLong(f"The URL exceeds {self.max_url_bytes} bytes.")
                await problem_for(too_long, None)(scope, receive, send)
                return
            if header_bytes(scope) > self.max_header_bytes:
                too_large = HeadersTooLarge(f"The request headers exceed {self.max_header_bytes} bytes.")
                await problem_for(too_large, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)


def body_limit_for(path: str, default: int, overrides: Mapping[str, int]) -> int:
    """The limit of the longest override prefix that `path` is, or lies below; else `default`."""
    prefix = longest_prefix(path, overrides)
    return overrides[prefix] if prefix is not None else default


class BodyGuard:
    """Wraps `receive`: counts body bytes as they stream in and enforces a deadline for the body.

    Raising from `receive` aborts whoever is reading, the upstream request included: the service
    sees a truncated body and a closed connection, never a complete oversized body.
    """

    def __init__(self, receive: Receive, limit: int, timeout_seconds: float) -> None:
        self._receive = receive
        self.limit = limit
        self.timeout_seconds = timeout_seconds
        self.deadline = asyncio.get_running_loop().time() + timeout_seconds
        self.received = 0
        self.complete = False

    async def receive(self) -> Message:
        if self.complete:  # later calls only wait for the disconnect: no deadline for those
            return await self._receive()
        try:
            async with asyncio.timeout_at(self.deadline):
                message = await self._receive()
        except TimeoutError:
            raise RequestBodyTimeout(
                f"The request body did not arrive within {self.timeout_seconds:g} seconds."
            ) from None
        if message["type"] != "http.request":
            self.complete = True
            return message
        self.received += len(message.get("body", b""))
        if self.received > self.limit:
            raise PayloadTooLarge(self.limit)
        self.complete = not message.get("more_body", False)
        return message


class BodyLimitMiddleware:
    """413 when `Content-Length` announces too much (before reading a byte), or as soon as a body
    without one (chunked) passes the limit; 408 when the body trickles in too slowly."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int, overrides: Mapping[str, int], timeout_seconds: float
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.overrides = dict(overrides)
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = body_limit_for(scope["path"], self.max_body_bytes, self.overrides)
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await problem_for(PayloadTooLarge(limit), scope["path"])(scope, receive, send)
            return
        if declared is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body at all
            return
        guard = BodyGuard(receive, limit, self.timeout_seconds)
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guard.receive, send_tracking)
        except (PayloadTooLarge, RequestBodyTimeout) as error:
            # Normally the app's error handlers have answered already; this covers any reader
            # outside them. Once an answer has started, there is nothing left to say.
            if started:
                raise
            await problem_for(error, scope["path"])(scope, receive, send)
