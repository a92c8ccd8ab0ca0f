"""What the services' own descriptions cannot say, added per operation so the document describes
exactly what a client meets: required idempotency keys and their replays, `Location`, conditional
requests (`If-None-Match`, `ETag`, 304), the refresh cookie, readable operation ids, and `links`
that follow the real flows (a product into the cart and an order, an order into its payment, a
payment into its refunds), which generated clients and stateful testers walk.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.idempotency import REPLAYED_HEADER

Document = dict[str, Any]

# Handler names that read poorly outside their module.
OPERATION_IDS = {
    "complete": "complete_sandbox_payment",
    "set_item": "set_cart_item",
    "remove_item": "remove_cart_item",
}

# The services take the key as optional so that a missing one is the contract's
# `400 idempotency-key-required` rather than a generic 422; it is required all the same.
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Creations whose 201 names the new resource in `Location` (the services set it).
LOCATION_OPERATIONS = frozenset(
    {("post", "/api/v1/products"), ("post", "/api/v1/orders"), ("post", "/api/v1/payments")}
)
LOGIN = ("post", "/api/v1/auth/login")
COOKIE_OPERATIONS = frozenset({("post", "/api/v1/auth/refresh"), ("post", "/api/v1/auth/logout")})


def _header(description: str, schema: Document) -> Document:
    return {"description": description, "schema": schema}


def ref(section: str, name: str) -> Document:
    return {"$ref": f"#/components/{section}/{name}"}


HEADERS: dict[str, Document] = {
    "ETag": _header(
        "A strong validator of the representation; send it back in `If-None-Match`.",
        {"type": "string", "pattern": '^"[0-9a-f]{32}"$'},
    ),
    "Location": _header("Where the created resource is read.", {"type": "string", "format": "uri-reference"}),
    REPLAYED_HEADER: _header(
        "`true` when this answer replays the first request with the same `Idempotency-Key` (nothing "
        "was done again); absent otherwise.",
        {"type": "string", "enum": ["true"]},
    ),
    "Set-Cookie": _header(
        "The refresh cookie (`HttpOnly; Secure; SameSite=Strict; Path=/api/v1/auth`): set or rotated "
        "for browser sessions, cleared at logout. Scripts cannot read it.",
        {"type": "string"},
    ),
}


@dataclass(frozen=True)
class ContractOptions:
    """What the document says that depends on the deployment."""

    refresh_cookie_name: str = "refresh_token"
    captcha_enabled: bool = True


def parameters(options: ContractOptions) -> dict[str, Document]:
    return {
        "IfNoneMatch": {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": "The `ETag` of the copy the client holds: 304 without a body when it is current.",
            "schema": {"type": "string"},
        },
        "RefreshCookie": {
            "name": options.refresh_cookie_name,
            "in": "cookie",
            "required": False,
            "description": "The browser session's refresh token (set by login with "
            '`refresh_token_delivery: "cookie"`); used when the body has no `refresh_token`.',
            # Any value: one that is not a live token is a 401 at refresh and ignored at logout.
            "schema": {"type": "string"},
        },
    }


def describe_contract(path: str, method: str, operation: Document) -> None:
    """The headers, parameters and links of one operation (after the gateway's common additions)."""
    key = (method, path)
    responses: dict[str, Any] = operation["responses"]
    for parameter in operation.get("parameters", []):
        _never_null(parameter)
    _require_idempotency_key(operation)
    if any(_is_idempotency_key(parameter) for parameter in operation.get("parameters", [])):
        for status in ("200", "201"):
            if status in responses:
                _add_header(responses[status], REPLAYED_HEADER)
    if key in LOCATION_OPERATIONS and "201" in responses:
        _add_header(responses["201"], "Location", required=True)
    if "304" in responses:
        operation.setdefault("parameters", []).append(ref("parameters", "IfNoneMatch"))
        responses["304"].pop("content", None)
        _add_header(responses["304"], "ETag", required=True)
        if "200" in responses:
            _add_header(responses["200"], "ETag", required=True)
    if key == LOGIN and "200" in responses:
        _add_header(responses["200"], "Set-Cookie")
    if key in COOKIE_OPERATIONS:
        operation.setdefault("parameters", []).append(ref("parameters", "RefreshCookie"))
        for status in ("200", "204"):
            if status in responses:
                _add_header(responses[status], "Set-Cookie")
    links = LINKS.get(key)
    success = next((status for status in ("201", "200") if status in responses), None)
    if links and success is not None:
        responses[success]["links"] = copy.deepcopy(links)


# Request schemas that are one of several shapes (pydantic writes the rule as `oneOf` beside the
# properties), by the names their shapes get in the document.
ALTERNATIVES = {"PlaceOrder": ("PlaceOrderItems", "PlaceOrderFromCart")}


def name_alternatives(schemas: dict[str, Any]) -> None:
    """Each shape of a one-of-several body becomes a complete schema of its own, named, and the body
    is `oneOf` them: generators build one class per shape (with every field it takes), not classes
    holding only the branch's difference (`PlaceOrderType0` without `items`)."""
    for name, shape_names in ALTERNATIVES.items():
        schema = schemas.get(name)
        if schema is None or "oneOf" not in schema:
            continue
        branches = schema.pop("oneOf")
        properties: dict[str, Any] = schema.pop("properties", {})
        for shape_name, branch in zip(shape_names, branches, strict=True):
            excluded = set(branch.get("not", {}).get("required", []))
            shape_properties = {
                key: {**value, **branch.get("properties", {}).get(key, {})}
                for key, value in properties.items()
                if key not in excluded
            }
            schemas[shape_name] = {
                "title": shape_name,
                "type": "object",
                "properties": shape_properties,
                "required": branch.get("required", []),
                "additionalProperties": schema.get("additionalProperties", True),
            }
        for key in ("type", "required", "additionalProperties"):
            schema.pop(key, None)
        schema["oneOf"] = [ref("schemas", shape_name) for shape_name in shape_names]


def drop_null_defaults(value: Any) -> None:
    """`default: null` on a property that cannot be null only means "may be left out" (pydantic
    writes it for optional fields whose null is refused); it would tell a generated client to send
    null, so it is dropped."""
    if isinstance(value, dict):
        if value.get("default", ...) is None and not _allows_null(value):
            del value["default"]
        for item in value.values():
            drop_null_defaults(item)
    elif isinstance(value, list):
        for item in value:
            drop_null_defaults(item)


def _allows_null(schema: Mapping[str, Any]) -> bool:
    kinds = schema.get("type")
    if kinds == "null" or (isinstance(kinds, list) and "null" in kinds):
        return True
    return any(_allows_null(option) for option in schema.get("anyOf", []) + schema.get("oneOf", []))


def rename_operation(operation: Document) -> None:
    operation_id = operation.get("operationId")
    if operation_id in OPERATION_IDS:
        operation["operationId"] = OPERATION_IDS[operation_id]


def _never_null(parameter: Document) -> None:
    """A query, header or cookie parameter is sent or not; it cannot be null. FastAPI writes an
    optional one as `anyOf: [<schema>, {type: null}]`, which generated clients turn into a nullable
    argument that then has nothing to send: keep the schema alone."""
    schema = parameter.get("schema")
    if not isinstance(schema, dict) or "anyOf" not in schema:
        return
    options = [option for option in schema["anyOf"] if option != {"type": "null"}]
    if len(options) == 1 and len(options) < len(schema["anyOf"]):
        rest = {name: value for name, value in schema.items() if name != "anyOf"}
        parameter["schema"] = {**rest, **options[0]}


def _is_idempotency_key(parameter: Mapping[str, Any]) -> bool:
    return parameter.get("in") == "header" and parameter.get("name") == IDEMPOTENCY_HEADER


def _require_idempotency_key(operation: Document) -> None:
    for parameter in operation.get("parameters", []):
        if _is_idempotency_key(parameter):
            parameter["required"] = True
            parameter["schema"] = {**parameter.get("schema", {}), "minLength": 1, "maxLength": 255}
            operation["responses"].setdefault("400", ref("responses", "BadRequest"))


def _add_header(response: Document, name: str, *, required: bool = False) -> None:
    # A required header is written out in full: not every tool reads siblings of a `$ref`.
    header = {**copy.deepcopy(HEADERS[name]), "required": True} if required else ref("headers", name)
    response.setdefault("headers", {})[name] = header


# --- links: the flows a client (or a stateful tester) follows ---------------------------------------

_BODY_ID = "$response.body#/id"
_PRODUCT = {"product_id": _BODY_ID}
_ORDER = {"order_id": _BODY_ID}
_PAYMENT = {"payment_id": _BODY_ID}
_FIRST = "$response.body#/items/0/id"


def _link(operation_id: str, description: str, **extra: Any) -> Document:
    return {"operationId": operation_id, "description": description, **extra}


LINKS: dict[tuple[str, str], dict[str, Document]] = {
    ("post", "/api/v1/auth/register"): {
        "LogIn": _link(
            "login",
            "Log in as the new user (the password is the one just chosen).",
            requestBody={"email": "$request.body#/email", "password": "$request.body#/password"},
        ),
    },
    ("post", "/api/v1/products"): {
        "GetProduct": _link("get_product", "Read the new product.", parameters=_PRODUCT),
        "GetProductBySku": _link(
            "get_product_by_sku", "Read it by its SKU.", parameters={"sku": "$response.body#/sku"}
        ),
        "ChangeProduct": _link("patch_product", "Change it.", parameters=_PRODUCT),
        "AdjustStock": _link(
            "adjust_stock",
            "Add stock.",
            parameters=_PRODUCT,
            requestBody={"delta": 10, "reason": "Delivery received"},
        ),
        "PutInCart": _link("set_cart_item", "Put it in the cart.", parameters=_PRODUCT),
        "OrderIt": _link(
            "create_order",
            "Order one unit of it.",
            requestBody={"items": [{"product_id": _BODY_ID, "quantity": 1}]},
        ),
        "Deactivate": _link("deactivate_product", "Take it off sale.", parameters=_PRODUCT),
    },
    ("get", "/api/v1/products"): {
        "GetFirstProduct": _link(
            "get_product", "Read the first product of the page.", parameters={"product_id": _FIRST}
        ),
        "PutFirstInCart": _link(
            "set_cart_item",
            "Put the first product of the page in the cart.",
            parameters={"product_id": _FIRST},
        ),
        "OrderFirst": _link(
            "create_order",
            "Order one unit of the first product of the page.",
            requestBody={"items": [{"product_id": _FIRST, "quantity": 1}]},
        ),
    },
    ("post", "/api/v1/products/{product_id}/stock-adjustments"): {
        "OrderRestocked": _link(
            "create_order",
            "Order one unit of the product just restocked.",
            requestBody={"items": [{"product_id": "$response.body#/product_id", "quantity": 1}]},
        ),
    },
    ("put", "/api/v1/cart/items/{product_id}"): {
        "RemoveFromCart": _link(
            "remove_cart_item",
            "Take the product out of the cart again.",
            parameters={"product_id": "$request.path.product_id"},
        ),
        "OrderTheCart": _link("create_order", "Order what is in the cart.", requestBody={"from_cart": True}),
    },
    ("post", "/api/v1/orders"): {
        "GetOrder": _link("get_order", "Read the new order.", parameters=_ORDER),
        "PayOrder": _link(
            "create_payment",
            "Pay it (with the sandbox where it is enabled).",
            requestBody={"order_id": _BODY_ID, "provider": "sandbox"},
        ),
        "CancelOrder": _link("cancel_order", "Cancel it while it waits for payment.", parameters=_ORDER),
        "ShipOrder": _link(
            "change_status",
            "Ship it once paid (admin).",
            parameters=_ORDER,
            requestBody={"status": "shipped"},
        ),
    },
    ("post", "/api/v1/payments"): {
        "GetPayment": _link("get_payment", "Read the payment.", parameters=_PAYMENT),
        "CompleteSandboxPayment": _link(
            "complete_sandbox_payment",
            "Settle a sandbox payment as the shopper would.",
            parameters=_PAYMENT,
            requestBody={"outcome": "succeeded"},
        ),
        "GetPaidOrder": _link(
            "get_order", "Read the order it pays.", parameters={"order_id": "$response.body#/order_id"}
        ),
        "Refund": _link(
            "create_refund",
            "Refund it (admin), all of what is refundable unless an amount is given.",
            parameters=_PAYMENT,
            requestBody={"reason": "Returned by the customer"},
        ),
        "ListRefunds": _link("list_refunds", "Its refunds (admin).", parameters=_PAYMENT),
    },
    ("post", "/api/v1/payments/sandbox/{payment_id}/complete"): {
        "RefundSettled": _link(
            "create_refund",
            "Refund the settled payment (admin).",
            parameters={"payment_id": _BODY_ID},
            requestBody={"reason": "Returned by the customer"},
        ),
        "GetSettledPayment": _link("get_payment", "Read it again.", parameters={"payment_id": _BODY_ID}),
    },
    ("post", "/api/v1/payments/{payment_id}/refunds"): {
        "ListRefundsAfter": _link(
            "list_refunds",
            "The payment's refunds, this one among them.",
            parameters={"payment_id": "$request.path.payment_id"},
        ),
        "GetRefundedPayment": _link(
            "get_payment",
            "The payment, with `refunded`.",
            parameters={"payment_id": "$request.path.payment_id"},
        ),
    },
}
