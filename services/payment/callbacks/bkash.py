"""The browser's return from bKash: `?paymentID=…&status=success|failure|cancel`, a hint only.

It is unauthenticated and forgeable. For `status=success` we execute (once); for anything else we
never execute and only ask `payment/status`. What is settled is always bKash's own answer, never
the query string. Callbacks for one paymentID are serialised in this process, and a payment that is
no longer pending is not executed again, so duplicate redirects execute once; across replicas,
bKash's own one-shot rule plus the stable event id keep the effect single.

The answer is a 303 to the SPA's result page (`SPA_RETURN_URL?payment_id=<ours>&status=<our payment
status>`, settings.return_url), or with `Accept: application/json` `200 {"payment_id", "status"}`;
nothing else about the payment is revealed to this unauthenticated route. An unknown paymentID is a 404.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.payment.context import Context, PaymentContext
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.payments.settlement import settle
from services.payment.providers.base import ProviderError
from services.payment.providers.bkash import BkashProvider
from shared.db import Document
from shared.logging import log_event

logger = logging.getLogger("payment.bkash")
NAME = "bkash"


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


# Callbacks being verified in this process, by bKash paymentID.
_in_progress = KeyedLocks()

router = APIRouter(prefix="/api/v1/payments/callbacks", tags=["payments"])

BkashPaymentId = Annotated[
    str, Query(alias="paymentID", pattern=r"^[A-Za-z0-9._:-]{1,128}$", description="bKash's paymentID.")
]
BkashStatus = Annotated[
    str, Query(pattern=r"^[A-Za-z_]{1,32}$", description="success, failure or cancel: a hint only.")
]


@router.api_route(
    "/bkash",
    methods=["GET", "POST"],
    response_model=None,
    summary="bKash's return redirect: verified by execute/status, then settled",
)
async def bkash_callback(
    request: Request,
    provider_payment_id: BkashPaymentId,
    status: BkashStatus,
    ctx: Context,
) -> Response:
    payment_id, payment_status = await handle_callback(ctx, provider_payment_id, status.lower())
    if "application/json" in request.headers.get("accept", ""):
        return JSONResponse(
            {"payment_id": payment_id, "status": payment_status}, headers={"Cache-Control": "no-store"}
        )
    return RedirectResponse(
        ctx.settings.return_url(payment_id, payment_status),
        status_code=303,
        headers={"Cache-Control": "no-store"},
    )


async def handle_callback(ctx: PaymentContext, provider_payment_id: str, hint: str) -> tuple[str, str]:
    """Verify what the redirect claims with bKash and settle it; returns our payment id and status."""
    provider = ctx.provider(NAME)
    assert isinstance(provider, BkashProvider)
    found = await payments.find_by_provider_payment(ctx.db, NAME, provider_payment_id)
    if found is None:
        raise PaymentNotFound("No bKash payment has this paymentID.")
    async with _in_progress.hold(provider_payment_id):
        # Re-read under the lock: a concurrent duplicate may have settled it meanwhile.
        payment = await payments.find_payment(ctx.db, found["_id"])
        assert payment is not None
        if payment["status"] == "pending":
            await _verify_and_settle(ctx, provider, payment, hint)
    current = await payments.find_payment(ctx.db, found["_id"])
    assert current is not None
    return str(current["_id"]), str(current["status"])


async def _verify_and_settle(
    ctx: PaymentContext, provider: BkashProvider, payment: Document, hint: str
) -> None:
    payment_id = str(payment["_id"])
    try:
        if hint == "success":
            event = await provider.execute(payment["provider_payment_id"], payment_id)
        else:
            event = await provider.query_payment(payment["provider_payment_id"], payment_id)
    except ProviderError as error:
        # Unknown for now; a later callback or reconciliation asks again.
        ctx.metrics.webhook_refused(NAME)
        log_event(
            logger,
            "bkash.callback_unverified",
            logging.WARNING,
            payment_id=payment_id,
            error=str(error)[:200],
        )
        return
    outcome = await settle(ctx, NAME, event)
    log_event(logger, "bkash.callback", payment_id=payment_id, hint=hint, kind=event.kind, outcome=outcome)
