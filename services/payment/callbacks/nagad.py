"""The shopper's return from Nagad: `?payment_ref_id=…&status=…&order_id=…`, hints only.

Nagad redirects with a GET; a POST is accepted too, as a separate operation in the OpenAPI
document. The payment's state is asked of Nagad (verify) and settled; the query's status and order
id are never believed, only logged. A payment already settled is answered without calling Nagad.
The answer is a 303 to the SPA's result page, or with `Accept: application/json` (and not HTML)
`200 {"payment_id", "status"}`.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.payment.context import Context, PaymentContext
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.payments.settlement import settle
from services.payment.providers.base import InvalidNotification, ProviderError
from services.payment.providers.nagad import NagadProvider
from services.payment.providers.nagad.wire import REFERENCE, SETTLED, payment_id_for, short_ascii
from shared.db import Document
from shared.logging import log_event

logger = logging.getLogger("payment.nagad")


async def confirm_callback(
    ctx: PaymentContext, reference: str, hinted_status: str | None, hinted_order: str | None
) -> Document:
    """Nagad sent the shopper back: ask verify (never the query string) and settle what it says."""
    reference = reference.replace(" ", "+")  # a '+' of base64 that arrived unescaped
    payment = (
        await payments.find_by_provider_payment(ctx.db, "nagad", reference)
        if REFERENCE.match(reference)
        else None
    )
    if payment is None:
        raise PaymentNotFound("No Nagad payment with this payment_ref_id.")
    if payment["status"] in SETTLED:
        return payment  # nothing left to confirm: no call to Nagad for a replayed callback
    provider = ctx.provider("nagad")
    assert isinstance(provider, NagadProvider)
    try:
        event = await provider.verified_event(reference)
    except (ProviderError, InvalidNotification) as error:
        # Left pending: reconciliation asks again later.
        ctx.metrics.webhook_refused("nagad")
        log_event(
            logger,
            "nagad.callback_unverified",
            logging.WARNING,
            payment_id=str(payment["_id"]),
            error=str(error)[:200],
        )
        return payment
    outcome = await settle(ctx, "nagad", event)
    log_event(
        logger,
        "nagad.callback_verified",
        payment_id=str(payment["_id"]),
        hinted_status=short_ascii(hinted_status or "", 40),
        hinted_order_matches=hinted_order is None or payment_id_for(hinted_order) == str(payment["_id"]),
        kind=event.kind,
        outcome=outcome,
    )
    return await payments.find_payment(ctx.db, payment["_id"]) or payment


router = APIRouter(prefix="/api/v1/payments/callbacks", tags=["payments"])


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


_CALLBACK_ROUTE: dict[str, Any] = {
    "response_model": None,
    "status_code": 303,
    "summary": "Nagad sends the shopper back here (verified with Nagad, then settled)",
    "responses": {200: {"description": "With `Accept: application/json`: `{payment_id, status}`"}},
}


@router.get("/nagad", operation_id="nagad_callback", **_CALLBACK_ROUTE)
@router.post("/nagad", operation_id="nagad_callback_post", **_CALLBACK_ROUTE)
async def nagad_callback(
    request: Request,
    ctx: Context,
    payment_ref_id: Annotated[str, Query(min_length=1, max_length=256)],
    status: Annotated[str | None, Query(max_length=64)] = None,
    order_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """A browser (303 to the SPA's result page) or a script (`Accept: application/json`, 200 with
    the payment's id and status). The query's status and order id are hints, never believed."""
    payment = await confirm_callback(ctx, payment_ref_id, status, order_id)
    result = {"payment_id": str(payment["_id"]), "status": payment["status"]}
    if _wants_json(request):
        return JSONResponse(result)
    return RedirectResponse(ctx.settings.return_url(result["payment_id"], result["status"]), status_code=303)
