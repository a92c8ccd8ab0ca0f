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

This module holds the test controls and the app; the fake itself is split by role: stripe_wire.py
(envelope, form encoding, currency rules), stripe_state.py (objects, events, webhooks, the
idempotency layer) and stripe_api.py (PaymentIntents, charges, refunds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from tests.fakes.stripe_api import FakeStripe
from tests.fakes.stripe_state import Config, Fault
from tests.fakes.stripe_wire import Json, StripeFailure, envelope, major_units

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
        shown = "set" if fake.config.webhook_secret else None
        return {**vars(fake.config), "webhook_secret": shown}

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
