"""The fake Stripe's state and the layers every API call goes through: authentication, injected
faults, and Stripe's idempotency layer (the first answer to a POST is saved under (API key,
Idempotency-Key) and replayed for the same parameters; other parameters are a 400
`idempotency_error`, a key still executing a 409 `idempotency_key_in_use`; requests that fail
validation are not saved). Events are recorded and delivered as signed webhooks
(`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "{t}.{body}" under the whole whsec_ string>`),
computed here independently of the SDK. The API itself is stripe_api.py."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from tests.fakes.stripe_wire import (
    API_VERSION,
    IDEMPOTENCY_TTL_SECONDS,
    MAX_KEY_LENGTH,
    Json,
    StripeFailure,
    bearer_key,
    envelope,
    invalid,
    missing,
    nest,
    nest_safely,
    new_id,
    now,
)


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
class StripeState:
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
        raise NotImplementedError  # the API (stripe_api.py)
