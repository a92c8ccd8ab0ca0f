"""Details of the contract a browser or a generated client meets, through the real gateway: every
header the document promises to clients can be read by the SPA (CORS), date and number filters
answer 422 for anything out of range or malformed (never a 500), and the document's bounds are the
server's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.cors import EXPOSED_HEADERS
from tests.builders import customer_headers

# Response headers browsers never let scripts read, whatever CORS says (Fetch: forbidden response
# header names), or that are CORS-safelisted already.
NOT_EXPOSABLE = {"set-cookie", "content-type", "cache-control"}


def documented_response_headers(document: dict[str, Any]) -> set[str]:
    names = {name.lower() for name in document["components"]["headers"]}
    for item in document["paths"].values():
        for operation in item.values():
            for response in operation.get("responses", {}).values():
                names |= {name.lower() for name in response.get("headers", {})}
    return names


async def test_cors_exposes_every_header_the_document_gives_clients(gateway: httpx.AsyncClient) -> None:
    document = (await gateway.get("/openapi.json")).json()
    exposed = {name.strip().lower() for name in EXPOSED_HEADERS.split(",")}
    documented = documented_response_headers(document)
    assert {"etag", "location", "idempotent-replayed", "www-authenticate", "retry-after"} <= documented
    assert documented - NOT_EXPOSABLE <= exposed, sorted(documented - NOT_EXPOSABLE - exposed)


@pytest.mark.parametrize(
    "query",
    [
        {"created_from": "0001-01-01T01:00:00+01:04"},  # overflowed converting to UTC: was a 500
        {"created_to": "9999-12-31T23:59:59-01:00"},
        {"created_to": "-0.99999"},  # was read as a Unix time
        {"created_from": "2026-02-30T00:00:00Z"},
        {"created_from": "2026-01-31T12:00:00"},  # no offset
        {"limit": "1e400"},
        {"limit": "101"},
        {"limit": "99999999999999999999999999"},
    ],
)
async def test_out_of_range_and_malformed_filters_are_422(
    gateway: httpx.AsyncClient, query: dict[str, str]
) -> None:
    response = await gateway.get("/api/v1/orders", params=query, headers=await customer_headers(gateway))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/validation-error"
    assert response.json()["errors"][0]["loc"][0] == "query"


@pytest.mark.parametrize(
    "query",
    [{"min_price": "1e400"}, {"max_price": "-1"}, {"max_price": "1000000000001"}, {"limit": "0"}],
)
async def test_numeric_product_filters_out_of_range_are_422(
    gateway: httpx.AsyncClient, query: dict[str, str]
) -> None:
    response = await gateway.get("/api/v1/products", params=query)
    assert response.status_code == 422, response.text


async def test_dates_within_the_documented_range_filter(gateway: httpx.AsyncClient) -> None:
    headers = await customer_headers(gateway)
    for query in (
        {"created_from": "1000-01-01T00:00:00+23:59", "created_to": "9998-12-31T23:59:59-23:59"},
        {"created_from": "2026-01-31t12:00:00.5z"},
    ):
        response = await gateway.get("/api/v1/orders", params=query, headers=headers)
        assert response.status_code == 200, response.text


async def test_the_documented_password_bound_is_the_servers(gateway: httpx.AsyncClient) -> None:
    document = (await gateway.get("/openapi.json")).json()
    password = document["components"]["schemas"]["RegisterRequest"]["properties"]["password"]
    assert (password["minLength"], password["maxLength"]) == (12, 256)
    login = document["components"]["schemas"]["LoginRequest"]["properties"]["password"]
    assert login["maxLength"] == 1024  # any password that could ever have been set can be presented


async def test_idempotency_keys_are_required_by_the_document_and_the_server(
    gateway: httpx.AsyncClient,
) -> None:
    document = (await gateway.get("/openapi.json")).json()
    place = document["paths"]["/api/v1/orders"]["post"]
    (key,) = [parameter for parameter in place["parameters"] if parameter["name"] == "Idempotency-Key"]
    assert key["required"] is True
    assert key["schema"]["type"] == "string"
    assert "400" in place["responses"]
    response = await gateway.post(
        "/api/v1/orders", json={"from_cart": True}, headers=await customer_headers(gateway)
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/idempotency-key-required"
