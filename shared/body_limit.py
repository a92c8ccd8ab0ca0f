"""Request bodies of bounded size and arrival time: 413 and 408 as problem+json.

The gateway applies this with per-path limits; every service applies it again with its own flat
limit, a second line for a caller that reaches a service without passing the gateway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import AppError, problem_for

# Neither 408 nor 413 asks for `Connection: close`: closing a socket the client is still writing to
# makes the kernel answer with a reset, which destroys the problem+json before the client reads it.
# The server discards the rest of the body instead, and closes the connection once the client has
# been silent for the keep-alive timeout (devstack/stack.py, deploy/README.md).


class RequestBodyTimeout(AppError):
    status, slug, title = 408, "request-timeout", "Request body not received in time"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Payload too large"

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            f"The request body exceeds the limit of {limit_bytes} bytes for this path.",
            limit_bytes=limit_bytes,
        )


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
    without one (chunked) passes the limit; 408 when the body trickles in too slowly.

    `limit_for` gives the limit of a path (the gateway's per-prefix overrides; a constant in services).
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int], timeout_seconds: float) -> None:
        self.app = app
        self.limit_for = limit_for
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        limit = self.limit_for(scope["path"])
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
