"""Which session a refresh names (gateway/ratelimit/sessions.py): the body's token first, then the
cookie, as the auth service reads them; whatever was read is handed on to the service unchanged."""

from __future__ import annotations

import json

import pytest
from starlette.types import Message

from gateway.ratelimit.sessions import PEEK_BYTES, presented_family
from shared.refresh_tokens import compose, family_of

FAMILY = "0123456789abcdef0123456789abcdef"  # pragma: allowlist secret
OTHER = "fedcba9876543210fedcba9876543210"  # pragma: allowlist secret
TOKEN = compose(FAMILY, "s" * 43)


def scope(cookie: str | None = None) -> dict[str, object]:
    headers = [(b"cookie", cookie.encode())] if cookie is not None else []
    return {"type": "http", "method": "POST", "path": "/api/v1/auth/refresh", "headers": headers}


async def run(body_parts: list[bytes], cookie: str | None = None) -> tuple[str | None, bytes]:
    """The family found, and the body the service then receives."""
    messages: list[Message] = [
        {"type": "http.request", "body": part, "more_body": index < len(body_parts) - 1}
        for index, part in enumerate(body_parts)
    ]

    async def receive() -> Message:
        return messages.pop(0)

    family, replay = await presented_family(scope(cookie), receive, "refresh_token")
    received, more = b"", True
    while more:
        message = await replay()
        received += message.get("body", b"")
        more = message.get("more_body", False)
    return family, received


def test_the_token_shape() -> None:
    assert family_of(TOKEN) == FAMILY
    assert family_of("s" * 43) is None  # issued before families were visible
    assert family_of(FAMILY.upper() + "." + "s" * 43) is None
    assert family_of(FAMILY + "." + "s" * 43 + "!") is None
    assert family_of(FAMILY + ".") is None


async def test_the_body_token_comes_first_and_the_body_is_handed_on_whole() -> None:
    body = json.dumps({"refresh_token": TOKEN}).encode()
    assert await run([body[:10], body[10:]], cookie=f"refresh_token={compose(OTHER, 's' * 43)}") == (
        FAMILY,
        body,
    )


@pytest.mark.parametrize("body", [b"{}", b"", b"[1, 2]", b"not json", b'{"refresh_token": 7}'])
async def test_without_a_body_token_the_cookie_names_the_session(body: bytes) -> None:
    assert await run([body], cookie=f"theme=dark; refresh_token={TOKEN}") == (FAMILY, body)
    assert await run([body]) == (None, body)


async def test_a_large_body_names_no_session_and_still_reaches_the_service() -> None:
    body = json.dumps({"refresh_token": TOKEN, "padding": "x" * PEEK_BYTES}).encode()
    parts = [body[i : i + 100] for i in range(0, len(body), 100)]
    assert await run(parts, cookie=f"refresh_token={TOKEN}") == (None, body)


async def test_a_legacy_token_in_the_body_names_no_session_even_with_a_cookie() -> None:
    body = json.dumps({"refresh_token": "s" * 43}).encode()
    assert await run([body], cookie=f"refresh_token={TOKEN}") == (None, body)
