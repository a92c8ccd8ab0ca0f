"""Which session a refresh belongs to: the token family its refresh token names.

The token is looked for where the auth service looks: `refresh_token` in the JSON body first, then
the refresh cookie. The body of a refresh is a few dozen bytes; at most `PEEK_BYTES` of it are read
here and handed on unchanged, so the service receives exactly what the client sent. A larger body
(which auth refuses anyway), a body that is not JSON, or a token without a family part names no
session: such a refresh counts per client address (gateway/ratelimit/policy.py).
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import Message, Receive, Scope

from shared.refresh_tokens import family_of

PEEK_BYTES = 1024


async def presented_family(scope: Scope, receive: Receive, cookie_name: str) -> tuple[str | None, Receive]:
    """The family named by the presented refresh token (or None), and a `receive` that replays what
    was read before continuing with the client's."""
    read: list[Message] = []
    size = 0
    more = True
    while more and size <= PEEK_BYTES:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    replay = _replaying(read, receive)
    if size > PEEK_BYTES or (read and read[-1]["type"] != "http.request"):
        return None, replay
    body_token = _token_in_body(b"".join(message.get("body", b"") for message in read))
    if body_token is not None:
        return family_of(body_token), replay
    cookie = _cookie(Headers(scope=scope), cookie_name)
    return (family_of(cookie) if cookie else None), replay


def _replaying(read: list[Message], receive: Receive) -> Receive:
    pending = list(read)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _token_in_body(body: bytes) -> str | None:
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return None
    token = parsed.get("refresh_token") if isinstance(parsed, dict) else None
    return token if isinstance(token, str) and token else None


def _cookie(headers: Headers, name: str) -> str | None:
    """Read as the auth service (Starlette) reads it, so both find the same token."""
    return cookie_parser(headers.get("cookie", "")).get(name)
