"""The fake Stripe's API: PaymentIntents (magic payment methods: `pm_card_visa` succeeds,
`pm_card_chargeDeclined` is declined), charges and refunds, with the events Stripe sends for them."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

from tests.fakes.stripe_state import StripeState
from tests.fakes.stripe_wire import (
    CANCELLATION_REASONS,
    DECLINING_METHODS,
    Json,
    StripeFailure,
    check_amount,
    invalid,
    new_id,
    now,
    positive_int,
    string_map,
)


class FakeStripe(StripeState):
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
