"""A stateful fake of Stripe's API for tests: PaymentIntents, charges, refunds and signed webhooks.

    python -m tests.fakes.stripe_server --port N [--webhook-url URL --webhook-secret S]

What the real SDK (stripe 16.1.0) sends is accepted as Stripe accepts it (Stripe's API reference and
the SDK's own code): form-encoded bodies with bracketed keys, `Authorization: Bearer
sk_test_...` (401 otherwise), Stripe's error envelope, and the idempotency layer: the first answer to
a POST is saved under (API key, Idempotency-Key) and replayed for the same key and parameters
(`Idempotent-Replayed: true`); other parameters under that key are a 400 `idempotency_error`, and a
key still executing a 409 `idempotency_key_in_use`. Requests that fail validation are not saved.

Amounts follow Stripe's currency rules (https://docs.stripe.com/currencies), kept here on their own
so that the shop's conversions are checked against them rather than against themselves: amounts are
integers of the currency's smallest unit in Stripe's eyes, two-decimal unless zero-decimal (BIF CLP
DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF) or three-decimal (BHD JOD KWD OMR TND,
whose amounts must end in 0); ISK is two-decimal with decimals 00 only
(`invalid_charge_amount_no_decimal_compatible`); at most eight digits; IQD, LYD, CLF and UYW are not
taken. `GET /__control/charged/{id}` shows what a PaymentIntent or refund is in major units, as
Stripe reads it.

Routes: `POST /v1/payment_intents`, `GET|POST /v1/payment_intents/{id}`,
`POST /v1/payment_intents/{id}/confirm|cancel|capture` (magic payment methods: `pm_card_visa`
succeeds, `pm_card_chargeDeclined` is declined), `POST|GET /v1/refunds` (list filters
`payment_intent`, `charge`), `GET|POST /v1/refunds/{id}`, `GET /v1/charges/{id}`.

Webhooks are signed like Stripe's (`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}"
under the whole whsec_ string>`), computed here independently of the SDK, and POSTed to the
configured URL. Test controls (not Stripe's), all under `/__control/`:

- `POST config` `{webhook_url?, webhook_secret?, payment_webhooks?: send|withhold,
  refund_webhooks?: send|before_response|withhold, refund_status?: succeeded|pending|failed}`.
  `send` delivers in the background after the API answer, `before_response` delivers (and waits)
  before answering the API call that caused it.
- `POST payment_intents/{id}/confirm` `{outcome: succeeded|failed, webhook?: true}`: what the
  shopper did in the Payment Element; delivers `payment_intent.succeeded|payment_failed` at once
  unless `webhook` is false, answering the status the endpoint returned.
- `POST refunds/{id}/settle` `{outcome: succeeded|failed}`: a pending refund completes or fails.
- `POST deliver` `{event_id? | event_type + (object_id | object), overrides?, duplicate?: n,
  concurrent?: bool, timestamp_offset?: s, signature?: valid|invalid|rotated|missing|v0_only,
  bad_signature?: bool, delay_seconds?: s}`: (re)deliver an event; answers `{event_id, statuses}`.
- `POST faults` `{mode: error|hang, count, status?: 500, seconds?: 5, path_prefix?: "/v1/"}`: the
  next `count` API calls fail (not saved for idempotency, like a failure before execution began)
  or hang for `seconds` before they are processed; `DELETE faults` clears them.
- `GET events`, `GET deliveries`, `GET requests` (API calls as received, without credentials),
  `GET objects/{id}`, and `GET /__health`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

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


# --- state --------------------------------------------------------------------------------------------


@dataclass
class Saved:
    fingerprint: tuple[str, str, tuple[tuple[str, str], ...]]
    status: int
    body: Json
    created: float


@dataclass
class Fault:
    mode: Literal["error", "hang"]
    count: int
    status: int
    seconds: float
    path_prefix: str


@dataclass
class Config:
    webhook_url: str | None = None
    webhook_secret: str | None = None
    payment_webhooks: Literal["send", "withhold"] = "send"
    refund_webhooks: Literal["send", "before_response", "withhold"] = "send"
    refund_status: Literal["succeeded", "pending", "failed"] = "succeeded"


@dataclass
class FakeStripe:
    config: Config
    objects: dict[str, Json] = field(default_factory=dict)
    events: dict[str, Json] = field(default_factory=dict)
    saved: dict[tuple[str, str], Saved] = field(default_factory=dict)
    executing: set[tuple[str, str]] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)
    requests: list[Json] = field(default_factory=list)
    deliveries: list[Json] = field(default_factory=list)
    background: set[asyncio.Task[None]] = field(default_factory=set)
    http: httpx.AsyncClient | None = None

    # --- objects and events ---

    def get(self, kind: str, object_id: str) -> Json:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise missing(kind, object_id)
        return obj

    def emit(self, event_type: str, obj: Json, request: Json | None = None) -> Json:
        event: Json = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now(),
            "livemode": False,
            "pending_webhooks": 1,
            "request": request or {"id": None, "idempotency_key": None},
            "type": event_type,
            "data": {"object": json.loads(json.dumps(obj))},  # a snapshot, as Stripe's events are
        }
        self.events[event["id"]] = event
        return event

    # --- webhooks ---

    def signature_header(self, payload: str, timestamp: int, mode: str) -> str | None:
        secret = self.config.webhook_secret or ""

        def sign(key: str) -> str:
            return hmac.new(key.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()

        good, bad = sign(secret), sign(secret + "-not-the-secret")
        return {
            "valid": f"t={timestamp},v1={good}",
            "invalid": f"t={timestamp},v1={bad}",
            # Secret rotation: one signature per active secret; any one may verify.
            "rotated": f"t={timestamp},v1={bad},v1={good}",
            # The test scheme only: must never be accepted (downgrade).
            "v0_only": f"t={timestamp},v0={good}",
            "missing": None,
        }[mode]

    async def deliver(
        self, event: Json, *, timestamp_offset: int = 0, signature: str = "valid"
    ) -> int | None:
        """POST one event to the webhook URL, freshly signed; the status it answered (None: unreachable)."""
        if not self.config.webhook_url or self.http is None:
            return None
        payload = json.dumps(event, indent=2, ensure_ascii=False)  # Stripe sends pretty-printed UTF-8
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (fake)"}
        header = self.signature_header(payload, now() + timestamp_offset, signature)
        if header is not None:
            headers["Stripe-Signature"] = header
        status: int | None
        try:
            answer = await self.http.post(self.config.webhook_url, content=payload.encode(), headers=headers)
            status = answer.status_code
        except httpx.HTTPError:
            status = None
        self.deliveries.append(
            {"event_id": event["id"], "type": event["type"], "status": status, "at": now()}
        )
        return status

    def in_background(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def dispatch(self, events: list[Json], mode: str) -> list[int | None]:
        if mode == "withhold":
            return []
        if mode == "before_response":
            return [await self.deliver(event) for event in events]

        async def later() -> None:
            for event in events:
                await self.deliver(event)

        self.in_background(later())
        return []

    # --- the idempotency layer (Stripe's idempotent requests) ---

    async def handle(self, request: Request, path: str) -> Response:
        api_key = bearer_key(request)
        if api_key is None:
            return envelope(
                StripeFailure(401, "invalid_request_error", "Invalid API Key provided.", saved=False)
            )
        pairs = parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True)
        pairs += parse_qsl(request.url.query, keep_blank_values=True)
        key = request.headers.get("idempotency-key") if request.method == "POST" else None
        record: Json = {"method": request.method, "path": f"/v1/{path}", "idempotency_key": key}
        self.requests.append(record)
        failed = await self.inject_fault(record["path"])
        if failed is not None:
            record["status"] = failed.status_code
            return failed
        try:
            params = nest(pairs)
            answer = await self.idempotent(api_key, key, request.method, record["path"], pairs, params)
        except StripeFailure as failure:
            answer = envelope(failure)
        record.update(params=nest_safely(pairs), status=answer.status_code)
        record["replayed"] = answer.headers.get("Idempotent-Replayed") == "true"
        return answer

    async def idempotent(
        self,
        api_key: str,
        key: str | None,
        method: str,
        path: str,
        pairs: list[tuple[str, str]],
        params: Json,
    ) -> Response:
        if key is None:
            status, body = await self.execute(method, path, params, None)
            return JSONResponse(body, status_code=status)
        if len(key) > MAX_KEY_LENGTH:
            raise invalid("Idempotency-Key is too long.", code="idempotency_key_too_long")
        slot = (api_key, key)
        fingerprint = (method, path, tuple(sorted(pairs)))
        saved = self.saved.get(slot)
        if saved is not None and time.time() - saved.created > IDEMPOTENCY_TTL_SECONDS:
            del self.saved[slot]  # pruned: the key is new again
            saved = None
        if saved is not None:
            if saved.fingerprint != fingerprint:
                raise StripeFailure(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were "
                    "first used with. Try using a key other than the one used on the original request.",
                    saved=False,
                )
            return JSONResponse(saved.body, status_code=saved.status, headers={"Idempotent-Replayed": "true"})
        if slot in self.executing:
            raise StripeFailure(
                409,
                "invalid_request_error",
                "There is currently another in-progress request using this Idempotent Key.",
                code="idempotency_key_in_use",
                saved=False,
            )
        self.executing.add(slot)
        try:
            status, body = await self.execute(method, path, params, key)
        except StripeFailure as failure:
            if not failure.saved:
                raise
            status, body = failure.status, failure.body
        finally:
            self.executing.discard(slot)
        self.saved[slot] = Saved(fingerprint, status, body, time.time())
        return JSONResponse(body, status_code=status, headers={"Idempotency-Key": key})

    async def inject_fault(self, path: str) -> Response | None:
        fault = next((f for f in self.faults if f.count > 0 and path.startswith(f.path_prefix)), None)
        if fault is None:
            return None
        fault.count -= 1
        if fault.mode == "hang":
            await asyncio.sleep(fault.seconds)  # then carry on: the answer arrives too late
            return None
        return envelope(
            StripeFailure(fault.status, "api_error", "An unexpected error occurred (injected).", saved=False)
        )

    # --- the API ---

    async def execute(self, method: str, path: str, params: Json, key: str | None) -> tuple[int, Json]:
        request_info = {"id": new_id("req"), "idempotency_key": key}
        parts = path.strip("/").split("/")[1:]  # without "v1"
        route: dict[tuple[str, str], Callable[[], Awaitable[Json]]] = {}
        if parts[:1] == ["payment_intents"]:
            pi = parts[1] if len(parts) > 1 else ""
            route = {
                ("POST", "payment_intents"): lambda: self.create_intent(params, request_info),
                ("GET", f"payment_intents/{pi}"): lambda: self.read("payment_intent", pi),
                ("POST", f"payment_intents/{pi}"): lambda: self.update_intent(pi, params),
                ("POST", f"payment_intents/{pi}/confirm"): lambda: self.confirm_api(pi, params, request_info),
                ("POST", f"payment_intents/{pi}/cancel"): lambda: self.cancel(pi, params, request_info),
                ("POST", f"payment_intents/{pi}/capture"): lambda: self.capture(pi, request_info),
            }
        elif parts[:1] == ["refunds"]:
            re_id = parts[1] if len(parts) > 1 else ""
            route = {
                ("POST", "refunds"): lambda: self.create_refund(params, request_info),
                ("GET", "refunds"): lambda: self.list_refunds(params),
                ("GET", f"refunds/{re_id}"): lambda: self.read("refund", re_id),
                ("POST", f"refunds/{re_id}"): lambda: self.update_metadata("refund", re_id, params),
            }
        elif parts[:1] == ["charges"] and len(parts) == 2:
            route = {("GET", f"charges/{parts[1]}"): lambda: self.read("charge", parts[1])}
        handler = route.get((method, "/".join(parts)))
        if handler is None:
            raise StripeFailure(
                404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).", saved=False
            )
        return 200, await handler()

    async def read(self, kind: str, object_id: str) -> Json:
        return self.get(kind, object_id)

    async def create_intent(self, params: Json, request_info: Json) -> Json:
        amount = positive_int(params, "amount", required=True)
        currency = params.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid("Missing or invalid currency.", code="parameter_missing", param="currency")
        assert amount is not None
        check_amount(amount, currency)
        intent_id = new_id("pi")
        automatic = params.get("automatic_payment_methods")
        intent: Json = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "automatic_payment_methods": {"enabled": automatic.get("enabled") == "true"}
            if isinstance(automatic, dict)
            else None,
            "cancellation_reason": None,
            "capture_method": params.get("capture_method", "automatic_async"),
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "created": now(),
            "currency": currency.lower(),
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": string_map(params, "metadata"),
            "next_action": None,
            "payment_method": params.get("payment_method"),
            "status": "requires_confirmation" if params.get("payment_method") else "requires_payment_method",
        }
        self.objects[intent_id] = intent
        self.emit("payment_intent.created", intent, request_info)
        if params.get("confirm") == "true":
            return await self.confirm_api(intent_id, params, request_info)
        return intent

    async def update_intent(self, intent_id: str, params: Json) -> Json:
        intent = self.get("payment_intent", intent_id)
        if intent["status"] in {"succeeded", "canceled", "processing"}:
            raise self.unexpected_state(intent, "update")
        amount = positive_int(params, "amount", required=False)
        currency = params.get("currency", intent["currency"])
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise invalid("Invalid currency.", param="currency")
        check_amount(intent["amount"] if amount is None else amount, currency)
        intent["currency"] = currency
        if amount is not None:
            intent["amount"] = amount
        return await self.update_metadata("payment_intent", intent_id, params)

    async def update_metadata(self, kind: str, object_id: str, params: Json) -> Json:
        obj = self.get(kind, object_id)
        obj["metadata"] = {**obj["metadata"], **string_map(params, "metadata")}
        return obj

    def unexpected_state(self, intent: Json, action: str) -> StripeFailure:
        return StripeFailure(
            400,
            "invalid_request_error",
            f"You cannot {action} this PaymentIntent because it has a status of {intent['status']}.",
            code="payment_intent_unexpected_state",
            extra={"payment_intent": intent},
        )

    async def confirm_api(self, intent_id: str, params: Json, request_info: Json) -> Json:
        intent = self.get("payment_intent", intent_id)
        method = params.get("payment_method") or intent["payment_method"]
        if not isinstance(method, str):
            raise invalid(
                "You cannot confirm this PaymentIntent because it's missing a payment method.",
                code="payment_intent_unexpected_state",
            )
        intent["payment_method"] = method
        outcome = "failed" if method in DECLINING_METHODS else "succeeded"
        events = self.confirm(intent, outcome, request_info)
        await self.dispatch(events, self.config.payment_webhooks)
        if outcome == "failed":
            raise StripeFailure(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                extra={"decline_code": "generic_decline", "payment_intent": intent},
            )
        return intent

    def confirm(self, intent: Json, outcome: str, request_info: Json | None = None) -> list[Json]:
        """The shopper's attempt; a decline returns the PI to requires_payment_method (not terminal)."""
        if intent["status"] not in {"requires_payment_method", "requires_confirmation", "requires_action"}:
            raise self.unexpected_state(intent, "confirm")
        if outcome == "failed":
            intent.update(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "generic_decline",
                    "message": "Your card was declined.",
                },
            )
            return [self.emit("payment_intent.payment_failed", intent, request_info)]
        if intent["capture_method"] == "manual":
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
            return [self.emit("payment_intent.amount_capturable_updated", intent, request_info)]
        return self.succeed(intent, request_info)

    def succeed(self, intent: Json, request_info: Json | None) -> list[Json]:
        charge_id = new_id("ch")
        self.objects[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "amount": intent["amount"],
            "amount_captured": intent["amount"],
            "amount_refunded": 0,
            "captured": True,
            "created": now(),
            "currency": intent["currency"],
            "metadata": dict(intent["metadata"]),
            "paid": True,
            "payment_intent": intent["id"],
            "refunded": False,
            "status": "succeeded",
        }
        intent.update(
            status="succeeded",
            amount_received=intent["amount"],
            amount_capturable=0,
            latest_charge=charge_id,
            last_payment_error=None,
        )
        return [self.emit("payment_intent.succeeded", intent, request_info)]

    async def cancel(self, intent_id: str, params: Json, request_info: Json) -> Json:
        intent = self.get("payment_intent", intent_id)
        reason = params.get("cancellation_reason")
        if reason is not None and reason not in CANCELLATION_REASONS:
            raise invalid("Invalid cancellation_reason.", param="cancellation_reason")
        if intent["status"] in {"succeeded", "canceled"}:
            raise self.unexpected_state(intent, "cancel")
        intent.update(status="canceled", cancellation_reason=reason)
        await self.dispatch([self.emit("payment_intent.canceled", intent, request_info)], "send")
        return intent

    async def capture(self, intent_id: str, request_info: Json) -> Json:
        intent = self.get("payment_intent", intent_id)
        if intent["status"] != "requires_capture":
            raise self.unexpected_state(intent, "capture")
        await self.dispatch(self.succeed(intent, request_info), self.config.payment_webhooks)
        return intent

    def charge_of(self, params: Json) -> Json:
        charge_id, intent_id = params.get("charge"), params.get("payment_intent")
        if isinstance(intent_id, str):
            intent = self.get("payment_intent", intent_id)
            if not intent["latest_charge"]:
                raise StripeFailure(
                    400,
                    "invalid_request_error",
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                )
            charge_id = intent["latest_charge"]
        if not isinstance(charge_id, str):
            raise invalid(
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
            )
        return self.get("charge", charge_id)

    async def create_refund(self, params: Json, request_info: Json) -> Json:
        charge = self.charge_of(params)
        amount = positive_int(params, "amount", required=False)
        reason = params.get("reason")
        if reason is not None and reason not in {"duplicate", "fraudulent", "requested_by_customer"}:
            raise invalid("Invalid reason.", param="reason")
        # Pending refunds hold their amount too: what is left can never be refunded twice.
        held = sum(
            obj["amount"]
            for obj in self.objects.values()
            if obj["object"] == "refund" and obj["charge"] == charge["id"] and obj["status"] == "pending"
        )
        remaining = charge["amount"] - charge["amount_refunded"] - held
        if remaining <= 0:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        amount = remaining if amount is None else amount
        check_amount(amount, charge["currency"])
        if amount > remaining:
            raise StripeFailure(
                400,
                "invalid_request_error",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining}).",
                code="amount_too_large",
                param="amount",
            )
        refund_id = new_id("re")
        refund: Json = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": None,
            "charge": charge["id"],
            "created": now(),
            "currency": charge["currency"],
            "failure_reason": None,
            "metadata": string_map(params, "metadata"),
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "pending",
        }
        self.objects[refund_id] = refund
        # Card refunds usually succeed at once: then refund.created already shows the outcome.
        outcome = self.config.refund_status
        later = [] if outcome == "pending" else self.finish_refund(refund, outcome, request_info)
        events = [self.emit("refund.created", refund, request_info), *later]
        await self.dispatch(events, self.config.refund_webhooks)
        return refund

    def finish_refund(self, refund: Json, outcome: str, request_info: Json | None) -> list[Json]:
        """pending -> succeeded (the charge's totals move) or failed; the events Stripe sends for it."""
        if refund["status"] != "pending":
            raise invalid(f"Refund {refund['id']} is already {refund['status']}.")
        charge = self.objects[refund["charge"]]
        refund["status"] = outcome
        if outcome == "failed":
            refund["failure_reason"] = "declined"
            events = [self.emit("refund.failed", refund, request_info)]
        else:
            charge["amount_refunded"] += refund["amount"]
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            # The Charge, without its refund list (not included since API 2022-11-15).
            events = [self.emit("charge.refunded", charge, request_info)]
        return [*events, self.emit("refund.updated", refund, request_info)]

    async def list_refunds(self, params: Json) -> Json:
        limit = positive_int(params, "limit", required=False) or 10
        wanted = {name: params[name] for name in ("payment_intent", "charge") if name in params}
        found = [
            obj
            for obj in reversed(self.objects.values())
            if obj["object"] == "refund" and all(obj[name] == value for name, value in wanted.items())
        ]
        return {"object": "list", "url": "/v1/refunds", "has_more": len(found) > limit, "data": found[:limit]}


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


# --- test controls -----------------------------------------------------------------------------------


class ConfigChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = None
    webhook_secret: str | None = None
    payment_webhooks: Literal["send", "withhold"] | None = None
    refund_webhooks: Literal["send", "before_response", "withhold"] | None = None
    refund_status: Literal["succeeded", "pending", "failed"] | None = None


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["succeeded", "failed"]
    webhook: bool = True


class Delivery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str | None = None
    event_type: str | None = None
    object_id: str | None = None
    object: Json | None = None
    overrides: Json = Field(default_factory=dict)
    duplicate: int = Field(default=1, ge=1, le=50)
    concurrent: bool = False
    timestamp_offset: int = 0
    signature: Literal["valid", "invalid", "rotated", "missing", "v0_only"] = "valid"
    bad_signature: bool = False
    delay_seconds: float = Field(default=0, ge=0, le=60)


class FaultSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["error", "hang"]
    count: int = Field(default=1, ge=1)
    status: int = Field(default=500, ge=400, le=599)
    seconds: float = Field(default=5, ge=0, le=120)
    path_prefix: str = "/v1/"


def control_routes(app: FastAPI, fake: FakeStripe) -> None:
    @app.get("/__health")
    async def health() -> Json:
        return {"ok": True}

    @app.post("/__control/config")
    async def configure(change: ConfigChange) -> Json:
        for name, value in change.model_dump(exclude_none=True).items():
            setattr(fake.config, name, value)
        return {**vars(fake.config), "webhook_secret": "set" if fake.config.webhook_secret else None}

    @app.post("/__control/payment_intents/{intent_id}/confirm")
    async def confirm(intent_id: str, body: Outcome) -> Response:
        try:
            intent = fake.get("payment_intent", intent_id)
            events = fake.confirm(intent, body.outcome)
        except StripeFailure as failure:
            return envelope(failure)
        statuses = [await fake.deliver(event) for event in events] if body.webhook else []
        return JSONResponse(
            {"payment_intent": intent, "event_ids": [e["id"] for e in events], "statuses": statuses}
        )

    @app.post("/__control/refunds/{refund_id}/settle")
    async def settle_refund(refund_id: str, body: Outcome) -> Response:
        try:
            events = fake.finish_refund(fake.get("refund", refund_id), body.outcome, None)
        except StripeFailure as failure:
            return envelope(failure)
        statuses = [await fake.deliver(event) for event in events] if body.webhook else []
        return JSONResponse({"event_ids": [e["id"] for e in events], "statuses": statuses})

    @app.post("/__control/deliver")
    async def deliver(body: Delivery) -> Response:
        event = event_for(fake, body)
        if event is None:
            return JSONResponse({"error": "name an existing event_id, or event_type and an object"}, 400)
        mode = "invalid" if body.bad_signature else body.signature

        async def once() -> int | None:
            return await fake.deliver(event, timestamp_offset=body.timestamp_offset, signature=mode)

        async def all_of_them() -> list[int | None]:
            if body.delay_seconds:
                await asyncio.sleep(body.delay_seconds)
            if body.concurrent:
                return list(await asyncio.gather(*(once() for _ in range(body.duplicate))))
            return [await once() for _ in range(body.duplicate)]

        if body.delay_seconds:
            fake.in_background(all_of_them())
            return JSONResponse({"event_id": event["id"], "statuses": [], "scheduled": True}, 202)
        return JSONResponse({"event_id": event["id"], "statuses": await all_of_them()})

    @app.post("/__control/faults")
    async def add_fault(spec: FaultSpec) -> Json:
        fake.faults.append(Fault(spec.mode, spec.count, spec.status, spec.seconds, spec.path_prefix))
        return {"faults": len(fake.faults)}

    @app.delete("/__control/faults")
    async def clear_faults() -> Json:
        fake.faults.clear()
        return {"faults": 0}

    @app.get("/__control/events")
    async def events() -> list[Json]:
        return list(fake.events.values())

    @app.get("/__control/deliveries")
    async def deliveries() -> list[Json]:
        return fake.deliveries

    @app.get("/__control/requests")
    async def requests() -> list[Json]:
        return fake.requests

    @app.get("/__control/charged/{object_id}")
    async def charged(object_id: str) -> Response:
        obj = fake.objects.get(object_id)
        if obj is None or "amount" not in obj:
            return JSONResponse({"error": "no such object"}, 404)
        received = obj.get("amount_received") or obj["amount"]
        return JSONResponse({"currency": obj["currency"], "major": major_units(received, obj["currency"])})

    @app.get("/__control/objects/{object_id}")
    async def read_object(object_id: str) -> Response:
        obj = fake.objects.get(object_id)
        return JSONResponse(obj if obj is not None else {"error": "no such object"}, 200 if obj else 404)


def event_for(fake: FakeStripe, body: Delivery) -> Json | None:
    """An existing event (redelivered as it was), or a new one about an object (plus overrides)."""
    if body.event_id is not None:
        return fake.events.get(body.event_id)
    if body.event_type is None:
        return None
    obj = body.object if body.object is not None else fake.objects.get(body.object_id or "")
    if obj is None:
        return None
    return fake.emit(body.event_type, {**obj, **body.overrides})


def create_app(config: Config) -> FastAPI:
    fake = FakeStripe(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=30) as http:
            fake.http = http
            yield
            for task in list(fake.background):
                task.cancel()

    app = FastAPI(title="Fake Stripe", lifespan=lifespan)
    app.state.fake = fake
    control_routes(app, fake)

    @app.api_route("/v1/{path:path}", methods=["GET", "POST", "DELETE"])
    async def api(path: str, request: Request) -> Response:
        return await fake.handle(request, path)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="A stateful fake of Stripe's API for tests.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    args = parser.parse_args()
    config = Config(webhook_url=args.webhook_url, webhook_secret=args.webhook_secret)
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
