"""Examples in the document: the requests a partner most often copies first, and problem bodies."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from shared.errors import PROBLEM_CONTENT_TYPE

Document = dict[str, Any]


def problem_example(status: int, slug: str, title: str, detail: str, **extensions: Any) -> Document:
    return {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail, **extensions}


_PRODUCT_ID = "665f1c2ab8e4d1a9c3f0b7d2"
# Request examples, by (method, path): what a partner most often copies first.
REQUEST_EXAMPLES: dict[tuple[str, str], dict[str, Document]] = {
    ("post", "/api/v1/orders"): {
        "items": {
            "summary": "Order listed products",
            "value": {"items": [{"product_id": _PRODUCT_ID, "quantity": 2}]},
        },
        "from_cart": {"summary": "Order everything in the caller's cart", "value": {"from_cart": True}},
    },
    ("post", "/api/v1/auth/register"): {
        "customer": {
            "summary": "A new customer",
            "value": {"email": "ada@example.com", "password": "correct horse battery staple", "name": "Ada"},
        }
    },
    ("post", "/api/v1/auth/login"): {
        "login": {
            "summary": "Email and password",
            "value": {"email": "ada@example.com", "password": "correct horse battery staple"},
        }
    },
    ("post", "/api/v1/payments"): {
        "sandbox": {
            "summary": "Pay with the sandbox",
            "value": {"order_id": _PRODUCT_ID, "provider": "sandbox"},
        }
    },
}
RESPONSE_EXAMPLES: dict[tuple[str, str, str], Document] = {
    ("post", "/api/v1/orders", "409"): problem_example(
        409,
        "insufficient-stock",
        "Not enough stock",
        "Some lines ask for more than is in stock; nothing was ordered.",
        lines=[{"product_id": _PRODUCT_ID, "sku": "TEA-GREEN-100G", "requested": 3, "available": 1}],
    ),
}


def add_examples(path: str, method: str, operation: Document, responses: Mapping[str, Document]) -> None:
    """Request examples, and problem examples on this operation's own copy of a shared response."""
    examples = REQUEST_EXAMPLES.get((method, path))
    media = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if examples and media is not None:
        media["examples"] = copy.deepcopy(examples)
    for (example_method, example_path, status), example in RESPONSE_EXAMPLES.items():
        response = operation["responses"].get(status)
        if (example_method, example_path) == (method, path) and response is not None:
            if "$ref" in response:  # a shared response: this operation gets its own copy
                response = copy.deepcopy(responses[response["$ref"].rpartition("/")[2]])
            response["content"][PROBLEM_CONTENT_TYPE]["example"] = example
            operation["responses"][status] = response
