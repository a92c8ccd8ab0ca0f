"""The gateway's protections as small pieces: slots per client, limits, cache rules, body guard."""

from __future__ import annotations

import asyncio

import pytest
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import Message

from gateway.inflight import ClientSlots
from gateway.limits import body_limit_for, header_bytes, url_bytes
from gateway.routing import longest_prefix
from gateway.security_headers import DEFAULT_CSP, csp_for, needs_no_store
from shared.body_limit import BodyGuard, PayloadTooLarge, RequestBodyTimeout


def test_client_slots_cap_each_client_and_forget_idle_ones() -> None:
    slots = ClientSlots(2)
    assert slots.try_acquire("a")
    assert slots.try_acquire("a")
    assert not slots.try_acquire("a")
    assert slots.try_acquire("b")  # another client is not affected
    slots.release("a")
    assert slots.in_flight("a") == 1
    assert slots.try_acquire("a")
    for client in ("a", "a", "b"):
        slots.release(client)
    assert len(slots) == 0


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/api/v1/products", "/api/v1/products"),
        ("/api/v1/products/x", "/api/v1/products"),
        ("/api/v1/products/x/images/1", "/api/v1/products/x/images"),
        ("/api/v1/productsx", None),
        ("/docs/oauth2-redirect", "/docs/"),
        ("/", None),
    ],
)
def test_longest_prefix(path: str, match: str | None) -> None:
    assert longest_prefix(path, ["/api/v1/products", "/api/v1/products/x/images", "/docs/"]) == match


def test_body_limit_per_prefix() -> None:
    overrides = {"/api/v1/products": 5_000_000}
    assert body_limit_for("/api/v1/products/1", 1024, overrides) == 5_000_000
    assert body_limit_for("/api/v1/orders", 1024, overrides) == 1024


def test_csp_is_overridable_per_path() -> None:
    overrides = {"/docs": "default-src 'self'"}
    assert csp_for("/docs", overrides) == "default-src 'self'"
    assert csp_for("/api/v1/auth/me", overrides) == DEFAULT_CSP


def test_url_and_header_bytes_count_what_was_sent() -> None:
    scope = {
        "path": "/a b",
        "raw_path": b"/a%20b",
        "query_string": b"x=1",
        "headers": [(b"host", b"shop"), (b"x-a", b"")],
    }
    assert url_bytes(scope) == len("/a%20b?x=1")
    assert header_bytes(scope) == len("host: shop\r\n") + len("x-a: \r\n")
    assert url_bytes({**scope, "query_string": b""}) == len("/a%20b")


@pytest.mark.parametrize(
    ("request_headers", "response_headers", "no_store"),
    [
        ({"authorization": "Bearer x"}, {}, True),
        ({"authorization": "Bearer x"}, {"cache-control": "public, max-age=300"}, True),
        ({}, {"set-cookie": "a=b"}, True),
        ({}, {"set-cookie": "a=b", "cache-control": "private"}, False),
        ({}, {"cache-control": "public, max-age=300"}, False),
        ({}, {}, False),
    ],
)
def test_no_store_rules(
    request_headers: dict[str, str], response_headers: dict[str, str], no_store: bool
) -> None:
    response = MutableHeaders(raw=[(k.encode(), v.encode()) for k, v in response_headers.items()])
    assert needs_no_store(Headers(headers=request_headers), response) is no_store


def body_messages(*chunks: bytes, then_wait: bool = False) -> tuple[asyncio.Queue[Message], list[Message]]:
    queue: asyncio.Queue[Message] = asyncio.Queue()
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": then_wait or index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    for message in messages:
        queue.put_nowait(message)
    return queue, messages


async def test_body_guard_passes_a_body_within_the_limit() -> None:
    queue, messages = body_messages(b"a" * 10, b"b" * 10)
    guard = BodyGuard(queue.get, limit=20, timeout_seconds=5)
    assert [await guard.receive(), await guard.receive()] == messages
    assert guard.complete


async def test_body_guard_stops_at_the_first_chunk_over_the_limit() -> None:
    queue, _ = body_messages(b"a" * 10, b"b" * 11, b"c")
    guard = BodyGuard(queue.get, limit=20, timeout_seconds=5)
    await guard.receive()
    with pytest.raises(PayloadTooLarge):
        await guard.receive()
    assert queue.qsize() == 1  # nothing more was read


async def test_body_guard_enforces_the_body_deadline_but_not_after_the_body() -> None:
    queue, _ = body_messages(b"{", then_wait=True)
    guard = BodyGuard(queue.get, limit=20, timeout_seconds=0.05)
    await guard.receive()
    with pytest.raises(RequestBodyTimeout):
        await guard.receive()

    done, _ = body_messages(b"{}")
    finished = BodyGuard(done.get, limit=20, timeout_seconds=0.05)
    await finished.receive()
    await asyncio.sleep(0.1)
    done.put_nowait({"type": "http.disconnect"})
    assert (await finished.receive())["type"] == "http.disconnect"
