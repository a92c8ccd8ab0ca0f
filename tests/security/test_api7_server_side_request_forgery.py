"""API7:2023 Server side request forgery.

The shop fetches only addresses its operators configured (services, the key set, payment
providers, CAPTCHA verification); no request field, header or path can name another. The gateway
is no forward proxy, and the addresses it hands to shoppers (payment redirects, provider
callbacks) are built from settings, never from the request's Host or forwarding headers.
"""

from __future__ import annotations

from typing import Any

import httpx

from devstack.stack import Stack
from tests.harness import raw_request
from tests.payment.sandbox import ordered, pay

EVIL = "evil.example"
URL_WORDS = ("url", "uri", "href", "callback", "webhook", "redirect", "link", "endpoint")


def request_properties(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every property of every schema a request body or parameter may carry."""
    schemas = document["components"]["schemas"]
    used: set[str] = set()
    for item in document["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            for media in content.values():
                ref = media.get("schema", {}).get("$ref", "")
                used.add(ref.rsplit("/", 1)[-1])
    found = []
    for name in used:
        for prop, spec in schemas.get(name, {}).get("properties", {}).items():
            found.append((f"{name}.{prop}", spec))
    return found


async def test_no_request_field_carries_an_address(gateway: httpx.AsyncClient) -> None:
    """A structural guard: were a URL-shaped input ever added, this names it for review."""
    document = (await gateway.get("/openapi.json")).json()
    properties = request_properties(document)
    assert properties  # the walk found the request schemas at all
    for name, spec in properties:
        assert spec.get("format") not in ("uri", "url", "hostname"), name
        assert not any(word in name.rsplit(".", 1)[-1].lower() for word in URL_WORDS), name


async def test_the_gateway_is_no_forward_proxy(stack: Stack) -> None:
    for target in (b"http://169.254.169.254/latest/meta-data/", f"http://{EVIL}/".encode()):
        answer = await raw_request(stack.gateway_url, "GET", target)
        assert answer.status == 400
    connect = await raw_request(stack.gateway_url, "CONNECT", b"169.254.169.254:80")
    assert connect.status in (400, 405)


async def test_redirects_come_from_settings_not_from_the_request(
    stack: Stack, gateway: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    order, _, buyer = await ordered(gateway, admin)
    forged = {"Host": EVIL, "X-Forwarded-Host": EVIL, "Forwarded": f"host={EVIL};proto=https"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as client:
        payment = (await pay(client, {**buyer, **forged}, order["id"])).json()
    assert payment["redirect_url"]
    assert EVIL not in payment["redirect_url"]
