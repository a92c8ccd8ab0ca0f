"""The gateway's protections against the real services: security headers, CORS, size and time
limits, trusted proxies and the per-client in-flight cap.

The session stack's gateway runs with the defaults (no CORS, no trusted proxy). A second gateway,
in front of the same services and with the same internal token, has CORS for one SPA origin, a
1 KiB body limit, 127.0.0.1 as a trusted proxy (so tests can speak as other clients through
X-Forwarded-For) and at most two requests in flight per client.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from shared.db import Database
from tests.builders import unique_email
from tests.harness import extra_gateway, raw_exchange

PROBLEM = "application/problem+json"
SPA = "https://spa.example"
BODY_LIMIT = 1024
BODY_TIMEOUT_SECONDS = 3
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}


@pytest.fixture(scope="module")
def protected_gateway(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {
        "CORS_ORIGINS": f"{SPA},http://localhost:5173",
        "CORS_MAX_AGE_SECONDS": "900",
        "MAX_BODY_BYTES": str(BODY_LIMIT),
        "REQUEST_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT_SECONDS),
        "TRUSTED_PROXIES": "127.0.0.1",
        "MAX_INFLIGHT_PER_CLIENT": "2",
    }
    with extra_gateway(stack, tmp_path_factory.mktemp("protected-gateway"), settings) as protected:
        yield protected


@pytest.fixture
async def protected(protected_gateway: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=protected_gateway.gateway_url, timeout=30) as client:
        yield client


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def assert_security_headers(response: httpx.Response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, name
    assert "server" not in response.headers
    assert "strict-transport-security" not in response.headers  # plain HTTP, no trusted proxy


def padded_registration(email: str, size: int) -> bytes:
    """A valid registration, padded with JSON whitespace to `size` bytes: were it to reach auth
    whole, the account would exist afterwards."""
    body = json.dumps({"email": email, "password": "a long and unusual test passphrase", "name": "Big"})
    return (body[:-1] + " " * (size - len(body)) + "}").encode()


async def login_failure_logged_ip(stack: Stack, request_id: str) -> str:
    """The client address auth logged for the failed login with `request_id`."""
    assert stack.log_dir is not None
    for _ in range(100):
        for line in (stack.log_dir / "auth.log").read_text().splitlines():
            if request_id in line and '"login.failed"' in line:
                address: str = json.loads(line)["client_ip"]
                return address
        await asyncio.sleep(0.05)
    raise AssertionError(f"no login.failed line for {request_id}")


async def fail_login(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    request_id = f"xff-{uuid.uuid4().hex}"
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": unique_email("nobody"), "password": "not the password at all"},
        headers={"X-Request-ID": request_id, **headers},
    )
    assert response.status_code == 401
    return request_id


# --- security headers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [("/health", 200), ("/no/such/path", 404), ("/api/v1/auth/me", 401), ("/api/v1/categories", 200)],
)
async def test_security_headers_on_every_kind_of_answer(
    gateway: httpx.AsyncClient, path: str, status: int
) -> None:
    response = await gateway.get(path)
    assert response.status_code == status
    assert_security_headers(response)


async def test_security_headers_on_gateway_refusals(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/categories", headers={"X-Big": "x" * 20_000})
    assert_problem(response, 431, "request-header-fields-too-large")
    assert_security_headers(response)


async def test_authenticated_answers_are_never_stored(
    gateway: httpx.AsyncClient, customer: dict[str, str]
) -> None:
    jwks = "/api/v1/auth/.well-known/jwks.json"
    anonymous = await gateway.get(jwks)
    assert anonymous.headers["cache-control"].startswith("public")  # the service's choice stands
    authenticated = await gateway.get(jwks, headers=customer)
    assert authenticated.headers["cache-control"] == "no-store"
    me = await gateway.get("/api/v1/auth/me", headers=customer)
    assert me.status_code == 200
    assert me.headers["cache-control"] == "no-store"
    refused = await gateway.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"


async def test_hsts_only_when_a_trusted_proxy_says_https(
    gateway: httpx.AsyncClient, protected: httpx.AsyncClient
) -> None:
    forged = await gateway.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in forged.headers  # the peer is not a trusted proxy
    plain = await protected.get("/health")
    assert "strict-transport-security" not in plain.headers
    vouched = await protected.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert vouched.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


# --- CORS ---------------------------------------------------------------------------------------


async def test_no_cors_when_no_origin_is_configured(gateway: httpx.AsyncClient) -> None:
    simple = await gateway.get("/api/v1/categories", headers={"Origin": SPA})
    assert "access-control-allow-origin" not in simple.headers
    preflight = await gateway.options(
        "/api/v1/auth/refresh", headers={"Origin": SPA, "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_grant_for_the_spa_on_a_simple_request(protected: httpx.AsyncClient) -> None:
    response = await protected.get("/api/v1/categories", headers={"Origin": SPA})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SPA
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = {name.strip().lower() for name in response.headers["access-control-expose-headers"].split(",")}
    assert {
        "etag",
        "x-request-id",
        "retry-after",
        "location",
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit",
        "ratelimit-policy",
        "idempotent-replayed",
        "www-authenticate",
    } <= exposed
    assert "origin" in response.headers["vary"].lower()


async def test_cors_preflight_for_the_spa_is_answered_by_the_gateway(protected: httpx.AsyncClient) -> None:
    response = await protected.options(
        "/api/v1/auth/refresh",
        headers={
            "Origin": SPA,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization, idempotency-key",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == SPA
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")}
    assert {
        "authorization",
        "content-type",
        "idempotency-key",
        "x-request-id",
        "x-captcha-response",
    } <= allowed
    assert response.headers["access-control-max-age"] == "900"
    assert response.headers["vary"] == "Origin"
    assert_security_headers(response)


async def test_other_origins_get_no_grant(protected: httpx.AsyncClient) -> None:
    simple = await protected.get("/api/v1/categories", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers
    assert "access-control-allow-credentials" not in simple.headers
    assert "origin" in simple.headers["vary"].lower()
    preflight = await protected.options(
        "/api/v1/auth/refresh",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert_problem(preflight, 403, "origin-not-allowed")
    assert "access-control-allow-origin" not in preflight.headers
    # An origin differing only in scheme or port is another origin.
    for lookalike in ("http://spa.example", "https://spa.example:8443", "null"):
        response = await protected.get("/api/v1/categories", headers={"Origin": lookalike})
        assert "access-control-allow-origin" not in response.headers, lookalike


async def test_refusals_carry_the_grant_so_the_spa_can_read_them(protected: httpx.AsyncClient) -> None:
    response = await protected.post(
        "/api/v1/auth/register", content=b"x" * (BODY_LIMIT + 1), headers={"Origin": SPA}
    )
    assert_problem(response, 413, "payload-too-large")
    assert response.headers["access-control-allow-origin"] == SPA


# --- body, URL and header limits ----------------------------------------------------------------


async def test_body_over_the_limit_by_content_length_is_413(
    protected: httpx.AsyncClient, db: Database
) -> None:
    email = unique_email("big")
    response = await protected.post(
        "/api/v1/auth/register",
        content=padded_registration(email, 2048),
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 413, "payload-too-large")
    assert body["limit_bytes"] == BODY_LIMIT
    assert await db.users.find_one({"email": email}) is None


async def test_announced_oversized_body_is_refused_before_it_is_sent(protected_gateway: Stack) -> None:
    head = (
        b"POST /api/v1/auth/register HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    answer = await raw_exchange(protected_gateway.gateway_url, head)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"/problems/payload-too-large" in answer


async def test_chunked_body_over_the_limit_is_413_and_never_reaches_the_service(
    protected: httpx.AsyncClient, db: Database
) -> None:
    email = unique_email("chunked")
    payload = padded_registration(email, 2048)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 512):
            yield payload[start : start + 512]
            await asyncio.sleep(0.01)

    response = await protected.post(
        "/api/v1/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload-too-large")
    assert await db.users.find_one({"email": email}) is None


async def test_bodies_within_the_limit_still_reach_the_service(protected: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "not-an-email",'
        yield b' "password": "x", "name": "Small"}'

    for content in (b'{"email": "not-an-email", "password": "x", "name": "Small"}', chunks()):
        response = await protected.post(
            "/api/v1/auth/register", content=content, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 422, "validation-error")  # auth's answer: the body got there


async def test_trickled_body_is_cut_with_408(protected: httpx.AsyncClient) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.sleep(BODY_TIMEOUT_SECONDS + 1)
        yield b"}"

    response = await protected.post(
        "/api/v1/auth/login", content=trickle(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 408, "request-timeout")


async def test_url_over_the_limit_is_414(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/products", params={"q": "x" * 9000})
    body = assert_problem(response, 414, "uri-too-long")
    assert "instance" not in body  # the URL is not echoed back
    assert (await gateway.get("/api/v1/categories", params={"q": "x" * 7000})).status_code == 200


async def test_headers_over_the_limit_are_431(gateway: httpx.AsyncClient) -> None:
    response = await gateway.get("/api/v1/categories", headers={f"X-Pad-{n}": "x" * 1000 for n in range(17)})
    assert_problem(response, 431, "request-header-fields-too-large")
    fine = await gateway.get("/api/v1/categories", headers={f"X-Pad-{n}": "x" * 1000 for n in range(14)})
    assert fine.status_code == 200


async def test_a_giant_request_head_is_refused_by_the_server_itself(stack: Stack) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: shop\r\nX-Giant: " + b"x" * 300_000 + b"\r\n\r\n"
    try:
        answer = await raw_exchange(stack.gateway_url, head)
    except ConnectionError:
        return  # refused before a word was said: as good
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400 "), answer[:100]


# --- trusted proxies ----------------------------------------------------------------------------


async def test_forwarded_address_from_a_trusted_proxy_reaches_the_service(
    protected: httpx.AsyncClient, stack: Stack
) -> None:
    request_id = await fail_login(protected, {"X-Forwarded-For": "6.6.6.6, 198.51.100.77"})
    assert await login_failure_logged_ip(stack, request_id) == "198.51.100.77"


async def test_forwarded_address_from_anyone_else_is_ignored(
    gateway: httpx.AsyncClient, stack: Stack
) -> None:
    request_id = await fail_login(gateway, {"X-Forwarded-For": "198.51.100.78"})
    assert await login_failure_logged_ip(stack, request_id) == "127.0.0.1"


# --- in-flight cap ------------------------------------------------------------------------------


async def test_in_flight_cap_per_client(protected: httpx.AsyncClient, protected_gateway: Stack) -> None:
    release = asyncio.Event()
    started = [asyncio.Event(), asyncio.Event()]

    async def held_request(started: asyncio.Event) -> httpx.Response:
        async def held_upload() -> AsyncIterator[bytes]:
            yield b"{"
            started.set()  # asked for more: the head and the first chunk are on their way
            await release.wait()
            yield b"}"

        # A client of its own, so every held request has its own connection.
        async with httpx.AsyncClient(base_url=protected_gateway.gateway_url, timeout=30) as client:
            return await client.post("/api/v1/auth/__probe__", content=held_upload())

    held = [asyncio.create_task(held_request(event)) for event in started]
    try:
        await asyncio.gather(*(event.wait() for event in started))
        refused = await first_refusal(protected)
        assert_problem(refused, 429, "too-many-concurrent-requests")
        assert refused.headers["retry-after"] == "1"
        # Another client (as vouched for by the trusted proxy) is not affected, nor is /health.
        other = await protected.get("/api/v1/categories", headers={"X-Forwarded-For": "198.51.100.90"})
        assert other.status_code == 200
        assert (await protected.get("/health")).status_code == 200
    finally:
        release.set()
        answers = await asyncio.gather(*held)
    assert [answer.status_code for answer in answers] == [404, 404]
    # A slot is given back once the gateway has finished the exchange, an instant after the client
    # has read the last byte: allow for that instant.
    assert await eventually_passes(protected)


async def first_refusal(client: httpx.AsyncClient) -> httpx.Response:
    """Ask until the gateway has seen both held requests and refuses (or give up)."""
    for _ in range(20):
        response = await client.get("/api/v1/categories")
        if response.status_code != 200:
            return response
        await asyncio.sleep(0.05)
    raise AssertionError("the gateway never refused a third concurrent request")


async def eventually_passes(client: httpx.AsyncClient) -> bool:
    for _ in range(20):
        if (await client.get("/api/v1/categories")).status_code == 200:
            return True
        await asyncio.sleep(0.05)
    return False
