"""Spellings of a path that a normalising client, proxy or router may resolve to another path.

`disguises(path)` turns a plain public path into every tricky form of it: the gateway must answer
each with 400 `ambiguous-path` (gateway/canonical.py), never classify it as something else and then
let the HTTP client or the service resolve it to the plain path.
"""

from __future__ import annotations


def disguises(path: bytes) -> list[bytes]:
    """Forms of `path` (`/api/v1/a/b`) that resolve to it, or to a sibling, once normalised."""
    head, _, last = path.rpartition(b"/")
    return [
        head + b"/x/../" + last,  # literal dot-dot
        head + b"/x/%2e%2e/" + last,  # percent-encoded dot-dot, both cases
        head + b"/x/%2E%2E/" + last,
        head + b"/x/.%2e/" + last,  # half-encoded
        head + b"/./" + last,  # dot segment
        head + b"/%2e/" + last,
        path + b"/.",  # trailing dot: `/api/v1/orders/.` is `/api/v1/orders/` to a client
        path + b"/%2e",
        path + b"/x/..",
        head + b"//" + last,  # empty segment
        head + b"%2F" + last,  # encoded slash
        head + b"%2f" + last,
        head + b"/x%2F..%2F" + last,
        head + b"/x\\..\\" + last,  # backslashes, which some servers treat as slashes
        head + b"/x%5C..%5C" + last,
    ]


# Service endpoints that must never be reachable through the gateway, however the path is spelled.
INTERNAL_TARGETS = [
    b"/api/v1/products/../../../metrics",
    b"/api/v1/auth/../../../openapi.json",
    b"/api/v1/products/../../../health/ready",
    b"/api/v1/orders/%2e%2e/%2e%2e/%2e%2e/metrics",
    b"/api/v1/payments/..%2F..%2F..%2Fhealth/live",
    b"/api/v1/cart/..\\..\\..\\metrics",
]

# Request targets that are no path at all, or that hide bytes a path must not hold.
MALFORMED_TARGETS = [
    b"http://127.0.0.1:9/api/v1/products",  # absolute form: the gateway is not a forward proxy
    b"*",
    b"api/v1/products",
    b"/api/v1/products/%00",
    b"/api/v1/products/%0aX-Injected:%20yes",
    b"/api/v1/products/%zz",
    b"/api/v1/products/%",
    b"/api/v1/products/%c3%28",  # not UTF-8 once decoded
]
