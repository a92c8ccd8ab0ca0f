"""What the gateway adds to the services' own descriptions: the problem model and its responses,
the rate-limit and request-id headers, the bearer scheme, tags, examples, and which problems each
operation may answer once it goes through the gateway."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.openapi import contract
from gateway.openapi.contract import ContractOptions
from gateway.openapi.examples import add_examples, problem_example
from shared.errors import PROBLEM_CONTENT_TYPE

Document = dict[str, Any]

OPENAPI_VERSION = "3.1.0"
API_TITLE = "Shop API"
API_PREFIX = "/api/v1/"
GATEWAY_SOURCE = "gateway"
# The gateway's own paths that are part of the public contract (besides unrouted /api/v1 ones).
GATEWAY_PUBLIC_PATHS = frozenset({"/health"})
BEARER = "HTTPBearer"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
WRITE_METHODS = frozenset({"post", "put", "patch", "delete"})
_SCHEMA_REF = "#/components/schemas/"

DESCRIPTION = """\
The public REST API of the shop: accounts, catalog, cart and orders, payments.

* **Authentication**: `Authorization: Bearer <access token>` from `POST /api/v1/auth/login`
  (15-minute EdDSA JWTs); renew with `POST /api/v1/auth/refresh`.
* **Errors** are RFC 9457 `application/problem+json` (`Problem`): switch on `type`
  (`/problems/<slug>`), quote `request_id` when reporting one. 422 answers list field `errors`.
* **Rate limits**: every `/api/v1` answer carries `RateLimit-Limit`, `RateLimit-Remaining`,
  `RateLimit-Reset` and `RateLimit-Policy`; a refusal is a 429 with `Retry-After`.
* **Idempotency**: placing an order, starting a payment and refunding take an `Idempotency-Key`
  header (a UUID per attempt; a retry reuses it).
* **Pagination**: `limit` and the opaque `cursor` from the previous page's `next_cursor`.
* **Availability**: a service that cannot be reached answers 503 (with `Retry-After`), one that does
  not answer in time 504.
"""

TAGS: list[dict[str, str]] = [
    {"name": "auth", "description": "Accounts, login, token refresh and logout, signing keys."},
    {"name": "products", "description": "The catalog: listings, search, product administration, stock."},
    {"name": "categories", "description": "Product categories."},
    {"name": "cart", "description": "The caller's cart, priced live; it reserves nothing."},
    {"name": "orders", "description": "Checkout (one transaction, never oversold) and the order life cycle."},
    {"name": "payments", "description": "Payments with Stripe, bKash, Nagad or the sandbox; refunds."},
    {"name": "captcha", "description": "Challenges for the self-hosted CAPTCHA (ALTCHA)."},
    {"name": "operations", "description": "Health of the gateway and the services behind it."},
]

BEARER_SCHEME: Document = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "An access token from `POST /api/v1/auth/login` (or `/refresh`), valid 15 minutes.",
}

SCHEMAS: dict[str, Document] = {
    "Problem": {
        "title": "Problem",
        "description": "RFC 9457 problem details; members beyond these may be added by a problem type.",
        "type": "object",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {
                "type": "string",
                "format": "uri-reference",
                "description": "Stable problem type to switch on.",
                "examples": ["/problems/not-found"],
            },
            "title": {"type": "string", "examples": ["Not found"]},
            "status": {"type": "integer", "minimum": 100, "maximum": 599, "examples": [404]},
            "detail": {"type": "string"},
            # The decoded request path, which may hold characters a URI reference may not.
            "instance": {"type": "string", "description": "The request path."},
            "request_id": {"type": "string", "description": "Quote it when reporting the problem."},
            "errors": {
                "type": "array",
                "description": "For 422: the fields that are invalid (what was sent is never echoed).",
                "items": {"$ref": _SCHEMA_REF + "ProblemFieldError"},
            },
        },
        "additionalProperties": True,
    },
    "ProblemFieldError": {
        "title": "ProblemFieldError",
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
            "msg": {"type": "string"},
            "type": {"type": "string"},
        },
    },
    "Health": {
        "title": "Health",
        "type": "object",
        "required": ["status", "services"],
        "properties": {
            "status": {"type": "string", "const": "ok"},
            "services": {
                "type": "object",
                "description": "Readiness of each service.",
                "additionalProperties": {
                    "type": "string",
                    "enum": ["ready", "not_ready", "timeout", "unreachable"],
                },
            },
            "breakers": {
                "type": "object",
                "description": "The gateway's circuit breaker for each service.",
                "additionalProperties": {"type": "string", "enum": ["closed", "open", "half_open"]},
            },
        },
        "additionalProperties": True,
    },
}


def _header(description: str, schema: Document) -> Document:
    return {"description": description, "schema": schema}


_INTEGER = {"type": "integer", "minimum": 0}
HEADERS: dict[str, Document] = {
    "RateLimit-Limit": _header("Requests allowed in the current window of the tightest limit.", _INTEGER),
    "RateLimit-Remaining": _header("Requests left in that window.", _INTEGER),
    "RateLimit-Reset": _header("Seconds until that window resets.", _INTEGER),
    "RateLimit-Policy": _header("The limits that apply, tightest first (`100;w=60`).", {"type": "string"}),
    "Retry-After": _header("Seconds to wait before trying again.", _INTEGER),
    "X-Request-ID": _header(
        "The request's id (the caller's, when plain); quote it to support.", {"type": "string"}
    ),
    "WWW-Authenticate": _header("`Bearer`: send an access token.", {"type": "string"}),
}


def ref(section: str, name: str) -> Document:
    return {"$ref": f"#/components/{section}/{name}"}


def _problem_response(description: str, *headers: str, example: Document | None = None) -> Document:
    media: Document = {"schema": ref("schemas", "Problem")}
    if example is not None:
        media["example"] = example
    names = ("X-Request-ID", *headers)
    return {
        "description": description,
        "headers": {name: ref("headers", name) for name in names},
        "content": {PROBLEM_CONTENT_TYPE: media},
    }


_RATE_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
RESPONSES: dict[str, Document] = {
    "Unauthorized": _problem_response(
        "No valid access token (missing, expired, or not one of ours).", "WWW-Authenticate"
    ),
    "Forbidden": _problem_response("The caller may not do this (an admin-only operation)."),
    "NotFound": _problem_response(
        "No such resource, or not the caller's.",
        example=problem_example(404, "not-found", "Not found", "No product with this id."),
    ),
    "Conflict": _problem_response(
        "The current state forbids it: a duplicate, too little stock, an illegal transition."
    ),
    "ValidationFailed": _problem_response(
        "The request is invalid; `errors` names each field.",
        example=problem_example(
            422,
            "validation-error",
            "Request validation failed",
            "One or more fields are invalid; see `errors`.",
            errors=[
                {"loc": ["body", "quantity"], "msg": "Input should be greater than 0", "type": "greater_than"}
            ],
        ),
    ),
    "CaptchaRequired": _problem_response(
        "A CAPTCHA solution is needed in `X-Captcha-Response`; nothing was done."
    ),
    "TooManyRequests": _problem_response(
        "Rate limit (or concurrent-request cap) reached; retry after `Retry-After`.",
        *_RATE_HEADERS,
        "Retry-After",
    ),
    "ServiceUnavailable": _problem_response(
        "A service (or its database) is unavailable; retry after `Retry-After`.",
        "Retry-After",
        example=problem_example(
            503, "upstream-unavailable", "Upstream service unavailable", "The catalog service is unavailable."
        ),
    ),
    "GatewayTimeout": _problem_response("The service did not answer in time (`/problems/upstream-timeout`)."),
    "BadRequest": _problem_response(
        "The request cannot be read as sent: `/problems/ambiguous-path` (a path that could be read two "
        "ways), `/problems/idempotency-key-required` (no `Idempotency-Key` where one is required)."
    ),
    "PayloadTooLarge": _problem_response(
        "The body is larger than the gateway accepts (`/problems/payload-too-large`); nothing was read."
    ),
    "Problem": _problem_response(
        "Any other error: 405, 408, 414, 415, 431, or a 500 that never carries internals."
    ),
}

PARAMETERS: dict[str, Document] = {
    "CaptchaResponse": {
        "name": "X-Captcha-Response",
        "in": "header",
        "required": False,
        "description": "A CAPTCHA solution or token, when one is demanded (428 captcha-required).",
        "schema": {"type": "string", "maxLength": 8192},
    }
}
# Operations that may demand a CAPTCHA (docs/api.md, CAPTCHA).
CAPTCHA_OPERATIONS = frozenset({("post", "/api/v1/auth/register"), ("post", "/api/v1/auth/login")})
# Operations without a bearer token that still answer 401 (wrong password, spent refresh token).
CREDENTIAL_OPERATIONS = frozenset({("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/refresh")})
# Operations that take a bearer token but serve anonymous callers too (`OptionalUser`): the services'
# documents cannot say so (one HTTPBearer scheme serves both), so the gateway does.
OPTIONAL_AUTH_OPERATIONS = frozenset({("get", "/api/v1/products")})


def refs_in(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from refs_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs_in(item)


def _sections(options: ContractOptions) -> dict[str, dict[str, Document]]:
    return {
        "schemas": SCHEMAS,
        "headers": {**HEADERS, **contract.HEADERS},
        "responses": RESPONSES,
        "parameters": {**PARAMETERS, **contract.parameters(options)},
    }


def gateway_components(options: ContractOptions | None = None) -> dict[str, Document]:
    """What the gateway adds, by `$ref`: reserved names a service may not redefine."""
    return {
        f"#/components/{section}/{name}": value
        for section, entries in _sections(options or ContractOptions()).items()
        for name, value in entries.items()
    }


def add_gateway_components(
    components: dict[str, dict[str, Any]], schemes: dict[str, Document], options: ContractOptions
) -> None:
    for section, entries in _sections(options).items():
        components[section].update(copy.deepcopy(entries))
    components["securitySchemes"] = schemes


def _is_validation_error(response: Mapping[str, Any]) -> bool:
    """FastAPI's stock 422 (`HTTPValidationError`), which the shared handlers replace by a Problem."""
    refs = set(refs_in(response.get("content", {})))
    return any(ref.endswith("/HTTPValidationError") for ref in refs)


def _is_error_status(status: str) -> bool:
    return status == "default" or status[:1] in {"4", "5"}


def document_operation(path: str, method: str, operation: Document, options: ContractOptions) -> None:
    """Describe what the gateway adds to every answer (problem+json errors, rate-limit headers), and
    what the services' own descriptions cannot say (gateway/openapi/contract.py)."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in list(responses.items()):
        if "$ref" in response:
            continue
        if status == "422" and _is_validation_error(response):
            responses[status] = ref("responses", "ValidationFailed")
        elif _is_error_status(status):
            content = response.get("content", {})
            if PROBLEM_CONTENT_TYPE not in content:
                media = content.get("application/json", {"schema": ref("schemas", "Problem")})
                response["content"] = {PROBLEM_CONTENT_TYPE: media}
            response.setdefault("headers", {}).setdefault("X-Request-ID", ref("headers", "X-Request-ID"))
        else:
            response.setdefault("headers", {}).update(_success_headers(path))
    if (method, path) in OPTIONAL_AUTH_OPERATIONS and operation.get("security"):
        # Open to everyone: no security requirement (generated clients then take an anonymous
        # client); what a token adds is said in the description.
        operation["security"] = []
        operation["description"] = (
            operation.get("description", "") + "\n\nOpen to everyone. With an admin's access token "
            "(`Authorization: Bearer`) inactive products can be listed too (`active`)."
        ).strip()
    for status, name in _expected_errors(path, method, operation):
        responses.setdefault(status, ref("responses", name))
    if (method, path) in CAPTCHA_OPERATIONS and options.captcha_enabled:
        operation.setdefault("parameters", []).append(ref("parameters", "CaptchaResponse"))
        responses.setdefault("428", ref("responses", "CaptchaRequired"))
    contract.describe_contract(path, method, operation)
    add_examples(path, method, operation, RESPONSES)


def _success_headers(path: str) -> dict[str, Any]:
    names = ["X-Request-ID", *(_RATE_HEADERS if path.startswith(API_PREFIX) else ())]
    return {name: ref("headers", name) for name in names}


def _expected_errors(path: str, method: str, operation: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The problems this operation may answer, besides those its service documents."""
    expected: list[tuple[str, str]] = []
    if operation.get("security"):
        expected += [("401", "Unauthorized"), ("403", "Forbidden")]
    if "{" in path:
        expected.append(("404", "NotFound"))
    if (method, path) in CREDENTIAL_OPERATIONS:
        expected.append(("401", "Unauthorized"))
    # A write can conflict with the state of what it creates or changes (not login, refresh, logout).
    if method in WRITE_METHODS and ("{" in path or "201" in operation.get("responses", {})):
        expected.append(("409", "Conflict"))
    if operation.get("parameters") or operation.get("requestBody"):
        expected.append(("422", "ValidationFailed"))
    if operation.get("requestBody"):
        expected.append(("413", "PayloadTooLarge"))
    if path.startswith(API_PREFIX):
        expected += [
            ("400", "BadRequest"),
            ("429", "TooManyRequests"),
            ("503", "ServiceUnavailable"),
            ("504", "GatewayTimeout"),
        ]
    expected.append(("default", "Problem"))
    return expected


def describe_health(doc: Document) -> None:
    """The gateway's `/health` answers `Health`, or a 503 Problem that names the unready services."""
    operation = doc.get("paths", {}).get("/health", {}).get("get")
    if operation is None:
        return
    operation["responses"] = {
        "200": {
            "description": "Every service is ready.",
            "content": {"application/json": {"schema": ref("schemas", "Health")}},
        },
        "503": {
            "description": "A service is not ready; `services` and `breakers` say which and why.",
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": {
                        "allOf": [
                            ref("schemas", "Problem"),
                            {"properties": {"services": {"type": "object"}, "breakers": {"type": "object"}}},
                        ]
                    }
                }
            },
        },
    }
