"""One canonical path per request: what the gateway checks is exactly what it forwards.

Every gateway rule (routing, rate-limit class, CAPTCHA routes, body limits, timeouts, the
public/internal boundary) is decided on the request path. If the path could mean one thing to
those rules and another to whoever resolves it later, each rule could be stepped around: the
HTTP client removes `.`/`..` segments before forwarding (RFC 3986 §5.2.4), so
`/api/v1/orders/.` was classed as an unknown path and then created an order, and
`/api/v1/products/../../../metrics` reached a service's internal endpoint.

The choice is to refuse, not to normalise: a path with dot segments (literal or percent-encoded),
an encoded slash or backslash, a backslash, an empty segment, a control character, a malformed or
non-UTF-8 escape is answered 400 `ambiguous-path` before any other rule runs. No client of this
API needs such a path, and refusing means no normaliser (ours, the HTTP client's, a proxy's in
front, the service's router) can ever disagree with another about what was meant.

Every path that passes is then forwarded in one spelling, re-encoded from the decoded path the
rules saw (`upstream_path`), so the service decodes exactly the path that was classified.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.types import ASGIApp, Receive, Scope, Send

from shared.errors import BadRequest, problem_for

# RFC 3986 pchar and `/` stay as they are; everything else (`%`, `?`, `#`, spaces, non-ASCII) is
# escaped, so a decoded `%` or `?` can never turn into an escape or a query on the way out.
_FORWARD_SAFE = "/:@!$&'()*+,;=-._~"
_ESCAPE = re.compile(rb"%([0-9A-Fa-f]{2})")
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# Decoded characters that have no place in a path: C0 controls, DEL, C1 controls, backslash.
_FORBIDDEN_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
# Escapes that would be a path delimiter once decoded: `%2F` (/) and `%5C` (\).
_ENCODED_DELIMITERS = frozenset({b"2f", b"5c"})


class AmbiguousPath(BadRequest):
    slug, title = "ambiguous-path", "Ambiguous request path"


def ambiguity(raw_path: bytes) -> str | None:
    """Why `raw_path` (as sent, still percent-encoded) is refused, or None when it is canonical."""
    if not raw_path.startswith(b"/"):
        return "the request target must be a path starting with `/`"
    if _BAD_ESCAPE.search(raw_path):
        return "`%` must start a two-digit hexadecimal escape"
    if any(code.lower() in _ENCODED_DELIMITERS for code in _ESCAPE.findall(raw_path)):
        return "encoded `/` or `\\` (`%2F`, `%5C`) is not allowed in a path"
    try:
        decoded = _ESCAPE.sub(lambda match: bytes([int(match.group(1), 16)]), raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return "the path is not UTF-8 once decoded"
    if _FORBIDDEN_CHARACTERS.search(decoded):
        return "control characters and `\\` are not allowed in a path"
    segments = decoded.split("/")[1:]
    if any(segment in (".", "..") for segment in segments):
        return "`.` and `..` segments are not allowed in a path"
    if "" in segments[:-1]:  # a trailing slash is one empty last segment; `//` inside is not
        return "empty path segments (`//`) are not allowed"
    return None


def upstream_path(path: str) -> bytes:
    """The one spelling in which a checked (decoded) path is forwarded."""
    return quote(path, safe=_FORWARD_SAFE).encode("ascii")


class CanonicalPathMiddleware:
    """400 `ambiguous-path` for any path that is not canonical (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
            reason = ambiguity(raw_path)
            if reason is not None:
                # No `instance`: the refused path is exactly what should not be echoed back.
                await problem_for(AmbiguousPath(f"Refused: {reason}."), None)(scope, receive, send)
                return
        await self.app(scope, receive, send)
