"""Merging the services' OpenAPI documents: public paths only, name collisions, refs, errors, caching."""

from __future__ import annotations

import json
from typing import Any

import httpx
import schemathesis

from gateway.openapi import OpenApiDocuments, merge_documents

Doc = dict[str, Any]
PROBLEM = "application/problem+json"


def ref(name: str) -> Doc:
    return {"$ref": f"#/components/schemas/{name}"}


def operation(
    name: str, path: str, method: str, *, body: str | None = None, answer: str | None = None
) -> Doc:
    """An operation as FastAPI describes it (its operationId, its stock 422)."""
    op: Doc = {
        "tags": ["things"],
        "operationId": f"{name}{path}".replace("/", "_").replace("{", "_").replace("}", "_").replace("-", "_")
        + f"_{method}",
        "responses": {"200": {"description": "OK"}},
    }
    if answer:
        op["responses"]["200"]["content"] = {"application/json": {"schema": ref(answer)}}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
        op["responses"]["422"] = {
            "description": "Validation Error",
            "content": {"application/json": {"schema": ref("HTTPValidationError")}},
        }
    return op


def service_doc(paths: dict[str, dict[str, Doc]], schemas: dict[str, Doc], **schemes: Doc) -> Doc:
    stock = {
        "HTTPValidationError": {"type": "object", "properties": {"detail": {"type": "array"}}},
    }
    components: Doc = {"schemas": {**schemas, **stock}}
    if schemes:
        components["securitySchemes"] = schemes
    info = {"title": "x", "version": "1"}
    return {"openapi": "3.1.0", "info": info, "paths": paths, "components": components}


MONEY = {"type": "object", "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}}}
OTHER_MONEY = {"type": "object", "properties": {"cents": {"type": "integer"}}}
BEARER = {"type": "http", "scheme": "bearer"}


def catalog_doc() -> Doc:
    return service_doc(
        {
            "/api/v1/products/{product_id}": {
                "get": operation("get_product", "/api/v1/products/{product_id}", "get", answer="Product")
            },
            "/api/v1/orders": {"get": operation("stray", "/api/v1/orders", "get")},  # not catalog's
            "/health/ready": {"get": operation("ready", "/health/ready", "get")},
        },
        {"Product": {"type": "object", "properties": {"price": ref("Money")}}, "Money": MONEY},
        HTTPBearer=BEARER,
    )


def order_doc(money: Doc = OTHER_MONEY) -> Doc:
    create = operation("create_order", "/api/v1/orders", "post", body="PlaceOrder", answer="Order")
    create["security"] = [{"BearerAuth": []}]
    return service_doc(
        {"/api/v1/orders": {"post": create}},
        {
            "PlaceOrder": {"type": "object"},
            # Identical text to catalog's Product, but its Money is a different one.
            "Product": {"type": "object", "properties": {"price": ref("Money")}},
            "Order": {"type": "object", "properties": {"total": ref("Money"), "product": ref("Product")}},
            "Money": money,
        },
        BearerAuth=BEARER,
    )


def merged(**sources: Doc) -> Doc:
    return merge_documents(sources, version="9.9.9")


def every_ref(value: Any) -> list[str]:
    text = json.dumps(value)
    return [part.split('"')[0] for part in text.split('"$ref": "')[1:]]


def test_only_the_paths_the_gateway_routes_to_each_service_are_kept() -> None:
    doc = merged(catalog=catalog_doc(), order=order_doc())
    assert set(doc["paths"]) == {"/api/v1/products/{product_id}", "/api/v1/orders"}
    assert set(doc["paths"]["/api/v1/orders"]) == {"post"}


def test_the_gateway_keeps_health_and_api_paths_no_service_owns() -> None:
    gateway = service_doc(
        {
            "/health": {"get": operation("health", "/health", "get")},
            "/api/v1/captcha": {"get": operation("captcha_challenge", "/api/v1/captcha", "get")},
            "/metrics": {"get": operation("metrics", "/metrics", "get")},
            "/api/v1/products": {"get": operation("shadow", "/api/v1/products", "get")},
        },
        {},
    )
    doc = merged(gateway=gateway)
    assert set(doc["paths"]) == {"/health", "/api/v1/captcha"}


def test_different_schemas_under_one_name_are_prefixed_and_refs_follow() -> None:
    doc = merged(catalog=catalog_doc(), order=order_doc())
    schemas = doc["components"]["schemas"]
    assert "Money" not in schemas
    assert schemas["CatalogMoney"] == MONEY
    assert schemas["OrderMoney"] == OTHER_MONEY
    # Product was identical text, but refers to a Money that differs: each keeps its own.
    assert schemas["CatalogProduct"]["properties"]["price"] == ref("CatalogMoney")
    assert schemas["OrderProduct"]["properties"]["price"] == ref("OrderMoney")
    assert schemas["Order"]["properties"] == {"total": ref("OrderMoney"), "product": ref("OrderProduct")}
    product = doc["paths"]["/api/v1/products/{product_id}"]["get"]
    assert product["responses"]["200"]["content"]["application/json"]["schema"] == ref("CatalogProduct")


def test_identical_schemas_are_shared_under_their_name() -> None:
    doc = merged(catalog=catalog_doc(), order=order_doc(money=MONEY))
    schemas = doc["components"]["schemas"]
    assert schemas["Money"] == MONEY
    assert schemas["Product"]["properties"]["price"] == ref("Money")
    assert set(schemas).isdisjoint({"CatalogMoney", "OrderMoney", "CatalogProduct", "OrderProduct"})


def test_a_service_schema_named_like_the_gateways_problem_is_renamed() -> None:
    catalog = catalog_doc()
    catalog["components"]["schemas"]["Problem"] = {"type": "string"}
    catalog["paths"]["/api/v1/products/{product_id}"]["get"]["responses"]["200"]["content"] = {
        "application/json": {"schema": ref("Problem")}
    }
    doc = merged(catalog=catalog)
    schemas = doc["components"]["schemas"]
    assert schemas["CatalogProblem"] == {"type": "string"}
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status"}


def test_every_ref_resolves_and_nothing_unused_is_kept() -> None:
    doc = merged(catalog=catalog_doc(), order=order_doc())
    components = doc["components"]
    for target in every_ref(doc):
        section, name = target.removeprefix("#/components/").split("/")
        assert name in components[section], target
    assert "HTTPValidationError" not in components["schemas"]
    assert "PlaceOrder" in components["schemas"]


def test_every_bearer_scheme_becomes_the_one_http_bearer() -> None:
    doc = merged(catalog=catalog_doc(), order=order_doc())
    assert set(doc["components"]["securitySchemes"]) == {"HTTPBearer"}
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert doc["paths"]["/api/v1/orders"]["post"]["security"] == [{"HTTPBearer": []}]


def test_errors_are_problems_and_every_operation_has_a_default() -> None:
    doc = merged(catalog=catalog_doc(), order=order_doc())
    place = doc["paths"]["/api/v1/orders"]["post"]["responses"]
    assert place["422"] == {"$ref": "#/components/responses/ValidationFailed"}
    assert place["401"] == {"$ref": "#/components/responses/Unauthorized"}
    assert place["429"] == {"$ref": "#/components/responses/TooManyRequests"}
    assert place["default"] == {"$ref": "#/components/responses/Problem"}
    responses = doc["components"]["responses"]
    assert set(responses["TooManyRequests"]["headers"]) >= {
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "Retry-After",
    }
    for response in responses.values():
        assert response["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
    product = doc["paths"]["/api/v1/products/{product_id}"]["get"]["responses"]
    assert product["404"] == {"$ref": "#/components/responses/NotFound"}
    assert "RateLimit-Remaining" in product["200"]["headers"]


def test_operation_ids_become_handler_names_when_unique() -> None:
    catalog = catalog_doc()
    catalog["paths"]["/api/v1/products"] = {"get": operation("get_product", "/api/v1/products", "get")}
    doc = merged(catalog=catalog, order=order_doc())
    assert doc["paths"]["/api/v1/orders"]["post"]["operationId"] == "create_order"
    # Two handlers of one name: both keep FastAPI's unique ids.
    assert doc["paths"]["/api/v1/products"]["get"]["operationId"] == "get_product_api_v1_products_get"


def test_the_merged_document_is_valid_openapi_3_1() -> None:
    doc = merged(catalog=catalog_doc(), order=order_doc())
    assert doc["openapi"] == "3.1.0"
    assert doc["servers"] == [{"url": "/"}]
    assert doc["info"]["title"] == "Shop API"
    assert doc["info"]["version"] == "9.9.9"
    schemathesis.openapi.from_dict(doc).validate()


# --- fetching and caching ---------------------------------------------------------------------------


class Upstreams:
    """Answers each service's /openapi.json, or fails for the names in `down`."""

    def __init__(self) -> None:
        self.down: set[str] = set()
        self.calls: list[str] = []
        self.docs = {"catalog": catalog_doc(), "order": order_doc()}

    def handler(self, request: httpx.Request) -> httpx.Response:
        name = request.url.host
        self.calls.append(name)
        if name in self.down:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json=self.docs[name])


def documents(cache_seconds: float = 300.0) -> tuple[OpenApiDocuments, Upstreams, list[float]]:
    now = [0.0]
    cache = OpenApiDocuments(
        {"catalog": "http://catalog", "order": "http://order"},
        cache_seconds=cache_seconds,
        timeout_seconds=1,
        clock=lambda: now[0],
    )
    return cache, Upstreams(), now


GATEWAY_DOC: Doc = {"openapi": "3.1.0", "info": {"title": "g", "version": "1"}, "paths": {}}


async def test_documents_are_fetched_once_and_cached() -> None:
    cache, upstreams, _ = documents()
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstreams.handler)) as client:
        first = await cache.merged(client, GATEWAY_DOC, "1")
        second = await cache.merged(client, GATEWAY_DOC, "1")
    assert first is second
    assert sorted(upstreams.calls) == ["catalog", "order"]
    assert first.missing == ()
    assert set(json.loads(first.body)["paths"]) == {"/api/v1/products/{product_id}", "/api/v1/orders"}


async def test_a_missing_service_is_named_and_asked_again_on_the_next_request() -> None:
    cache, upstreams, _ = documents()
    upstreams.down = {"order"}
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstreams.handler)) as client:
        partial = await cache.merged(client, GATEWAY_DOC, "1")
        assert partial.missing == ("order",)
        assert json.loads(partial.body)["info"]["x-unavailable-services"] == ["order"]
        upstreams.down = set()
        complete = await cache.merged(client, GATEWAY_DOC, "1")
    assert complete.missing == ()
    assert upstreams.calls == ["catalog", "order", "order"]
    assert "/api/v1/orders" in json.loads(complete.body)["paths"]
    assert complete.etag != partial.etag


async def test_after_the_cache_period_a_failed_refresh_keeps_the_stale_document() -> None:
    cache, upstreams, now = documents(cache_seconds=60)
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstreams.handler)) as client:
        fresh = await cache.merged(client, GATEWAY_DOC, "1")
        now[0] = 61
        upstreams.down = {"catalog", "order"}
        stale = await cache.merged(client, GATEWAY_DOC, "1")
        upstreams.down = set()
        upstreams.docs["order"]["paths"]["/api/v1/orders"]["post"]["summary"] = "Place an order"
        refreshed = await cache.merged(client, GATEWAY_DOC, "1")
    assert stale.body == fresh.body
    assert stale.missing == ()
    summary = json.loads(refreshed.body)["paths"]["/api/v1/orders"]["post"]["summary"]
    assert summary == "Place an order"
