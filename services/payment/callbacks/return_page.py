"""The shop's own "back from paying" page, for development without an SPA.

Where SPA_RETURN_URL is empty, shoppers coming back from a redirect provider (bKash, Nagad, the
sandbox's page) land here: `GET /api/v1/payments/return?payment_id=...&status=...` shows the
status the payment service reported, as plain HTML. It reads nothing and reveals nothing beyond its
own query (which the browser already has); an SPA reads the payment itself with the shopper's token.
Production sets SPA_RETURN_URL, and then this route does not exist.
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from shared.ids import OBJECT_ID_PATTERN

router = APIRouter(prefix="/api/v1/payments")


@router.get("/return", include_in_schema=False)
async def back_from_paying(
    payment_id: Annotated[str, Query(pattern=OBJECT_ID_PATTERN)],
    status: Annotated[str, Query(pattern=r"^[a-z_]{1,32}$")],
) -> HTMLResponse:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Payment result</title>'
        "</head><body><h1>Payment result</h1>"
        f"<p>Payment {escape(payment_id)}: {escape(status)}.</p>"
        "<p>An SPA would now read the payment and the order with the shopper's token "
        "(set SPA_RETURN_URL to its page).</p></body></html>"
    )
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})
