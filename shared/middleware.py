"""Request context for every app: request id, one access-log line, metrics, and a last-resort 500.

Written as plain ASGI so streaming responses pass through untouched.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.errors import internal_error_response
from shared.logging import bind_request_id, log_event, unbind_request_id
from shared.metrics import UNMATCHED_ROUTE, HttpMetrics

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only when it is short and plain, so it is safe in logs and headers.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Probes and scrapes are logged only when they fail, or they would drown the real traffic.
_QUIET_PREFIXES = ("/health", "/metrics")

logger = logging.getLogger("shared.http")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str:
    """The caller's request id when it is acceptable, otherwise a fresh one."""
    if value and _VALID_REQUEST_ID.fullmatch(value):
        return value
    return new_request_id()


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def route_template(scope: Scope) -> str:
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(_header(scope, b"x-request-id"))
        scope.setdefault("state", {})["request_id"] = request_id
        token = bind_request_id(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_request_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception:
            logger.exception("http.unhandled_error", extra={"fields": {"path": scope.get("path")}})
            if response_started:
                raise
            await internal_error_response(scope.get("path"))(scope, receive, send_with_request_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            unbind_request_id(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        method = scope.get("method", "")
        path = scope.get("path", "")
        self.metrics.observe(method, route_template(scope), status, seconds)
        if status < 400 and path.startswith(_QUIET_PREFIXES):
            return
        level = logging.ERROR if status >= 500 else logging.INFO
        log_event(
            logger,
            "http.request",
            level,
            method=method,
            path=path,
            status=status,
            duration_ms=round(seconds * 1000, 2),
        )
