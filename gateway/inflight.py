"""At most `MAX_INFLIGHT_PER_CLIENT` proxied requests per client IP at once, in this gateway process.

One client holding many slow requests open (slow uploads, slow reads of the answer) would
otherwise tie up the upstream connection pool that everybody shares. Beyond the cap: 429 with
`Retry-After: 1`. A request holds its slot until its answer has been sent completely.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.clients import TrustedProxies
from gateway.errors import TooManyConcurrentRequests
from gateway.routing import owning_service
from shared.errors import problem_for
from shared.forwarding import client_group
from shared.logging import log_event

logger = logging.getLogger("gateway.inflight")


class ClientSlots:
    """Requests in flight per client. Safe under asyncio without a lock: acquire and release never
    await, so no other task runs between reading a count and writing it. Entries at zero are
    removed, so the dict holds only clients with requests in progress."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    def try_acquire(self, client: str) -> bool:
        count = self._in_flight.get(client, 0)
        if count >= self.limit:
            return False
        self._in_flight[client] = count + 1
        return True

    def release(self, client: str) -> None:
        count = self._in_flight[client] - 1
        if count:
            self._in_flight[client] = count
        else:
            del self._in_flight[client]

    def in_flight(self, client: str) -> int:
        return self._in_flight.get(client, 0)

    def __len__(self) -> int:
        return len(self._in_flight)


class InFlightLimitMiddleware:
    """Applies `ClientSlots` to requests for a service; the gateway's own routes are not counted."""

    def __init__(self, app: ASGIApp, slots: ClientSlots, proxies: TrustedProxies) -> None:
        self.app = app
        self.slots = slots
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or owning_service(scope["path"]) is None:
            await self.app(scope, receive, send)
            return
        client = client_group(self.proxies.client_ip(scope))  # IPv6: one /64 is one client
        if not self.slots.try_acquire(client):
            log_event(logger, "gateway.inflight_refused", logging.WARNING, client_ip=client)
            error = TooManyConcurrentRequests(self.slots.limit)
            await problem_for(error, scope["path"])(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.slots.release(client)
