"""Size and time limits on what a client may send: URL (414), headers (431), body (413, 408).

Heads far beyond these limits are already refused by the server (uvicorn's h11 limit, see
devstack/stack.py); these checks answer problem+json for everything the server lets through. The
body limit itself is shared with the services (shared/body_limit.py); here it varies by path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import HeadersTooLarge, UriTooLong
from gateway.routing import longest_prefix
from shared.errors import problem_for


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


def body_limits(default: int, overrides: Mapping[str, int]) -> Callable[[str], int]:
    """The gateway's body limit of a path: `BODY_LIMIT_OVERRIDES` over `MAX_BODY_BYTES`."""
    fixed = dict(overrides)
    return lambda path: body_limit_for(path, default, fixed)
