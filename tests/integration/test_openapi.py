"""The merged OpenAPI document on the real gateway: complete, valid, rendered, and enough for a client.

A partner generates a client from `GET /openapi.json` alone: `SpecClient` below is such a client,
built at run time from the document (operations by `operationId`, path templates, parameters,
request body schemas), which places an order end to end; every request body it sends and every
answer it gets is checked against the schemas the document gives. Schemathesis's gate over the
whole document is tests/contract/test_schemathesis.py.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema_rs
import pytest
import schemathesis

from tests.builders import DEFAULT_PASSWORD, unique_email
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

Doc = dict[str, Any]
PROBLEM = "application/problem+json"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# The public contract (docs/api.md), as (method, path) in the document.
CONTRACT = {
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/auth/.well-known/jwks.json"),
    ("get", "/api/v1/products"),
    ("get", "/api/v1/products/{product_id}"),
    ("post", "/api/v1/products"),
    ("patch", "/api/v1/products/{product_id}"),
    ("post", "/api/v1/products/{product_id}/stock-adjustments"),
    ("delete", "/api/v1/products/{product_id}"),
    ("get", "/api/v1/categories"),
    ("post", "/api/v1/categories"),
    ("get", "/api/v1/cart"),
    ("put", "/api/v1/cart/items/{product_id}"),
    ("delete", "/api/v1/cart/items/{product_id}"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order_id}"),
    ("post", "/api/v1/orders/{order_id}/cancel"),
    ("post", "/api/v1/orders/{order_id}/status"),
    ("post", "/api/v1/payments"),
    ("get", "/api/v1/payments/{payment_id}"),
    ("post", "/api/v1/payments/sandbox/{payment_id}/complete"),
    ("post", "/api/v1/payments/{payment_id}/refunds"),
    ("get", "/api/v1/captcha"),
    ("get", "/health"),
}


@pytest.fixture(scope="module")
async def document(gateway: httpx.AsyncClient) -> Doc:
    response = await gateway.get("/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    doc: Doc = response.json()
    return doc


def operations(doc: Doc) -> list[tuple[str, str, Doc]]:
    return [
        (method, path, item[method])
        for path, item in doc["paths"].items()
        for method in HTTP_METHODS
        if method in item
    ]


def resolve(doc: Doc, value: Doc) -> Doc:
    """Follow a local `$ref` (to components) once."""
    if "$ref" not in value:
        return value
    section, name = value["$ref"].removeprefix("#/components/").split("/")
    target: Doc = doc["components"][section][name]
    return target


def validator(doc: Doc, schema: Doc) -> jsonschema_rs.Validator:
    """A JSON Schema 2020-12 validator for `schema`, whose `$ref`s resolve in the document."""
    root = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    }
    return jsonschema_rs.validator_for(root)


def refs_in(value: Any) -> list[str]:
    return re.findall(r'"\$ref": "([^"]+)"', json.dumps(value))


# --- the document -----------------------------------------------------------------------------------


async def test_every_public_operation_is_described_and_nothing_internal(document: Doc) -> None:
    described = {(method, path) for method, path, _ in operations(document)}
    assert described >= CONTRACT, sorted(CONTRACT - described)
    assert all(path.startswith("/api/v1/") or path == "/health" for path in document["paths"])
    assert {"/health/ready", "/health/live", "/metrics", "/openapi.json", "/docs"}.isdisjoint(
        document["paths"]
    )
    assert "x-unavailable-services" not in document["info"]


async def test_the_document_is_valid_openapi_3_1(document: Doc) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Shop API"
    assert document["servers"] == [{"url": "/"}]
    schemathesis.openapi.from_dict(document).validate()
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    for target in refs_in(document):
        section, name = target.removeprefix("#/components/").split("/")
        assert name in document["components"][section], target


async def test_one_bearer_scheme_and_every_secured_operation_uses_it(document: Doc) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes == {"HTTPBearer": {**schemes["HTTPBearer"], "type": "http", "scheme": "bearer"}}
    secured = {path for method, path, op in operations(document) if op.get("security")}
    assert {"/api/v1/auth/me", "/api/v1/orders", "/api/v1/cart"} <= secured
    for _, _, op in operations(document):
        for requirement in op.get("security", []):
            assert set(requirement) <= {"HTTPBearer"}
    # Listing products is open to everyone (no requirement, so generated clients take an anonymous
    # client); an admin's token only widens it, which the description says.
    listing = document["paths"]["/api/v1/products"]["get"]
    assert listing["security"] == []
    assert "admin's access token" in listing["description"]


async def test_operation_ids_are_unique_and_readable(document: Doc) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids))
    assert {"register", "login", "list_products", "get_product", "create_order", "health"} <= set(ids)


async def test_every_error_is_a_problem_and_rate_limits_are_documented(document: Doc) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) >= {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "request_id",
        "errors",
    }
    for method, path, op in operations(document):
        responses = op["responses"]
        assert "default" in responses, (method, path)
        for status, response in responses.items():
            if status == "default" or status[0] in "45":
                assert PROBLEM in resolve(document, response)["content"], (method, path, status)
        if path.startswith("/api/v1/"):
            too_many = resolve(document, responses["429"])
            assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} <= set(
                too_many["headers"]
            )
            assert "503" in responses
    headers = document["components"]["headers"]
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} <= set(headers)
    place = document["paths"]["/api/v1/orders"]["post"]["responses"]
    assert {"401", "409", "422", "429", "503"} <= set(place)


async def test_examples_match_their_schemas(document: Doc) -> None:
    checked = 0
    for method, path, op in operations(document):
        media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        for name, example in media.get("examples", {}).items():
            errors = list(validator(document, media["schema"]).iter_errors(example["value"]))
            assert not errors, (method, path, name, [error.message for error in errors])
            checked += 1
    assert checked >= 4
    place = document["paths"]["/api/v1/orders"]["post"]["requestBody"]["content"]["application/json"]
    assert set(place["examples"]) == {"items", "from_cart"}


async def test_revalidation_with_the_etag_answers_304(gateway: httpx.AsyncClient) -> None:
    first = await gateway.get("/openapi.json")
    again = await gateway.get("/openapi.json", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["etag"] == first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"


async def test_docs_render_swagger_ui_from_the_gateway_under_their_own_csp(
    gateway: httpx.AsyncClient,
) -> None:
    page = await gateway.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    assert "url: '/openapi.json'" in page.text
    csp = page.headers["content-security-policy"]
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]+'", csp), csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-eval" not in csp
    script = await gateway.get("/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    css = await gateway.get("/docs/assets/swagger-ui.css")
    assert css.status_code == 200
    unknown = await gateway.get("/docs/assets/openapi.py")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == PROBLEM
    escaping = await gateway.get("/docs/assets/..%2Fopenapi.py")
    assert escaping.status_code == 400  # an encoded slash never reaches a route (gateway/canonical.py)
    # Everything else keeps the API's CSP, which loads nothing.
    api = await gateway.get("/openapi.json")
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


# --- a client generated from the document -----------------------------------------------------------


class SpecClient:
    """Calls operations by `operationId` with nothing but the document: the path template, the
    declared parameters (keyword arguments, `Idempotency-Key` as `idempotency_key`), the request body
    (checked against its schema before sending) and the bearer scheme. Every answer must be a
    documented status and media type, and its body must match the documented schema."""

    def __init__(self, doc: Doc, http: httpx.AsyncClient) -> None:
        self.doc = doc
        self.http = http
        self.token: str | None = None
        self.by_id = {op["operationId"]: (method, path, op) for method, path, op in operations(doc)}

    async def call(self, operation_id: str, body: Any = None, **arguments: Any) -> httpx.Response:
        method, path, op = self.by_id[operation_id]
        url, params, headers = path, {}, {}
        for parameter in (resolve(self.doc, p) for p in op.get("parameters", [])):
            key = parameter["name"].lower().replace("-", "_")
            if key not in arguments:
                assert not parameter.get("required"), f"{operation_id} needs {parameter['name']}"
                continue
            value = arguments.pop(key)
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", quote(str(value), safe=""))
            elif parameter["in"] == "query":
                params[parameter["name"]] = value
            elif parameter["in"] == "header":
                headers[parameter["name"]] = str(value)
        assert not arguments, f"{operation_id} has no parameters {sorted(arguments)}"
        assert "{" not in url, f"{operation_id}: path parameters missing in {url}"
        if "requestBody" in op:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            validator(self.doc, schema).validate(body)
        if self.token and op.get("security"):
            headers["Authorization"] = f"Bearer {self.token}"
        response = await self.http.request(
            method.upper(), url, params=params, headers=headers, json=body if "requestBody" in op else None
        )
        self._check_answer(operation_id, op, response)
        return response

    def _check_answer(self, operation_id: str, op: Doc, response: httpx.Response) -> None:
        documented = op["responses"].get(str(response.status_code)) or op["responses"]["default"]
        documented = resolve(self.doc, documented)
        content = documented.get("content")
        if not content:
            return
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type in content, (operation_id, response.status_code, media_type, list(content))
        schema = content[media_type].get("schema")
        if schema:
            errors = [error.message for error in validator(self.doc, schema).iter_errors(response.json())]
            assert not errors, (operation_id, response.status_code, errors)


async def test_a_client_generated_from_the_document_places_an_order(
    document: Doc, gateway: httpx.AsyncClient
) -> None:
    client = SpecClient(document, gateway)
    login = await client.call("login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert login.status_code == 200
    client.token = login.json()["access_token"]
    sku = f"SPEC-{uuid.uuid4().hex[:10]}"
    created = await client.call(
        "create_product",
        {
            "sku": sku,
            "name": "Spec-built kettle",
            "description": "",
            "price": {"amount": 2500, "currency": "BDT"},
            "stock": 5,
        },
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]

    client.token = None
    email = unique_email("spec")
    registered = await client.call(
        "register", {"email": email, "password": DEFAULT_PASSWORD, "name": "Spec Client"}
    )
    assert registered.status_code == 201, registered.text
    tokens = await client.call("login", {"email": email, "password": DEFAULT_PASSWORD})
    assert tokens.status_code == 200
    client.token = tokens.json()["access_token"]

    listed = await client.call("list_products", limit=100, q="spec built kettle")
    assert listed.status_code == 200
    assert product_id in [item["id"] for item in listed.json()["items"]]
    product = await client.call("get_product", product_id=product_id)
    assert product.status_code == 200
    assert product.json()["sku"] == sku

    order = await client.call(
        "create_order",
        {"items": [{"product_id": product_id, "quantity": 2}]},
        idempotency_key=str(uuid.uuid4()),
    )
    assert order.status_code == 201, order.text
    assert order.json()["status"] == "pending_payment"
    assert order.json()["total"] == {"amount": 5000, "currency": "BDT"}
    fetched = await client.call("get_order", order_id=order.json()["id"])
    assert fetched.status_code == 200

    missing = await client.call("get_product", product_id="665f1c2ab8e4d1a9c3f0b7d2")
    assert missing.status_code == 404
    short = await client.call(
        "create_order",
        {"items": [{"product_id": product_id, "quantity": 4}]},  # 3 of 5 left
        idempotency_key=str(uuid.uuid4()),
    )
    assert short.status_code == 409
