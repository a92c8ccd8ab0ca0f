"""Stripe's wire format for the fake: ids, the error envelope, form-encoded parameters as
stripe-python sends them, and Stripe's currency rules (kept apart from the shop's own table, so the
shop's conversions are checked against them rather than against themselves)."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

API_VERSION = "2026-10-28.endive"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
MAX_KEY_LENGTH = 255
DECLINING_METHODS = frozenset({"pm_card_chargeDeclined", "pm_card_visa_chargeDeclined"})
CANCELLATION_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer", "abandoned"})
Json = dict[str, Any]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def now() -> int:
    return int(time.time())


class StripeFailure(Exception):
    """An API error answered in Stripe's envelope; `saved` when execution had begun (idempotency)."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        extra: Json | None = None,
        saved: bool = True,
    ) -> None:
        super().__init__(message)
        error: Json = {"type": kind, "message": message, **(extra or {})}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        self.status, self.body, self.saved = status, {"error": error}, saved


def invalid(message: str, *, code: str = "parameter_invalid", param: str | None = None) -> StripeFailure:
    return StripeFailure(400, "invalid_request_error", message, code=code, param=param, saved=False)


def missing(kind: str, object_id: str) -> StripeFailure:
    return StripeFailure(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", code="resource_missing", saved=False
    )


# --- form encoding (as stripe-python sends it) -----------------------------------------------------


def nest(pairs: list[tuple[str, str]]) -> Json:
    """`metadata[order_id]=42&expand[0]=x` -> {"metadata": {"order_id": "42"}, "expand": ["x"]}."""
    root: Json = {}
    for key, value in pairs:
        match = re.fullmatch(r"([^\[\]]+)((?:\[[^\[\]]*\])*)", key)
        if match is None:
            raise invalid(f"Invalid parameter name: {key[:40]}")
        path = [match[1], *re.findall(r"\[([^\[\]]*)\]", match[2])]
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise invalid(f"Invalid parameter name: {key[:40]}")
        node[path[-1]] = value
    return _listify(root)


def _listify(node: Json) -> Json:
    for key, value in node.items():
        if isinstance(value, dict):
            value = _listify(value)
            is_list = value and all(index.isdigit() for index in value)
            node[key] = [value[index] for index in sorted(value, key=int)] if is_list else value
    return node


def positive_int(params: Json, name: str, *, required: bool) -> int | None:
    raw = params.get(name)
    if raw is None:
        if required:
            raise invalid(f"Missing required param: {name}.", code="parameter_missing", param=name)
        return None
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) < 1:
        raise invalid(f"Invalid positive integer: {name}", code="parameter_invalid_integer", param=name)
    return int(raw)


# Stripe's currency rules (https://docs.stripe.com/currencies), independent of the shop's table.
ZERO_DECIMAL = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv"}
    | {"xaf", "xof", "xpf"}
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
NOT_TAKEN = frozenset(["iqd", "lyd", "clf", "uyw"])
MAX_AMOUNT = 99_999_999


def decimals(currency: str) -> int:
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


def check_amount(amount: int, currency: str) -> None:
    """What Stripe refuses for a charge or refund amount in this currency."""
    if currency in NOT_TAKEN:
        raise invalid(f"Invalid currency: {currency}.", code="invalid_currency", param="currency")
    if amount > MAX_AMOUNT:
        raise invalid("Amount must be no more than 99,999,999.", code="amount_too_large", param="amount")
    if currency in THREE_DECIMAL and amount % 10:
        raise invalid(
            f"Invalid amount: {currency.upper()} amounts must have 0 as their last digit.",
            code="invalid_charge_amount",
            param="amount",
        )
    if currency == "isk" and amount % 100:
        raise invalid(
            "Invalid amount. Currency ISK has become effectively zero-decimal and charged amounts must be "
            "evenly divisible by 100.",
            code="invalid_charge_amount_no_decimal_compatible",
            param="amount",
        )


def major_units(amount: int, currency: str) -> str:
    """An amount as Stripe reads it: 500000 isk -> "5000.00", 1200 jpy -> "1200", 12340 kwd -> "12.340"."""
    places = decimals(currency)
    if places == 0:
        return str(amount)
    whole, fraction = divmod(amount, 10**places)
    return f"{whole}.{fraction:0{places}d}"


def string_map(params: Json, name: str) -> dict[str, str]:
    value = params.get(name, {})
    if value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise invalid(f"Invalid hash: {name}", param=name)
    return dict(value)


def bearer_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    return key if scheme.lower() == "bearer" and re.fullmatch(r"sk_test_\w{8,}", key) else None


def nest_safely(pairs: list[tuple[str, str]]) -> Json | None:
    try:
        return nest(pairs)
    except StripeFailure:
        return None


def envelope(failure: StripeFailure) -> JSONResponse:
    return JSONResponse(failure.body, status_code=failure.status, headers={"Request-Id": new_id("req")})
