"""The sandbox's payment page: what a browser opens at a sandbox payment's `redirect_url`.

A real redirect provider (bKash, Nagad) shows the shopper its own page and then sends the browser
back to the shop. The sandbox does the same without money: `GET .../sandbox/{id}/page?ticket=...`
is a plain HTML page with two buttons, each a form posting back to the same address; the post
settles the payment as the shopper chose and answers 303 to the shopper's way back
(`SPA_RETURN_URL?payment_id=...&status=...`, settings.return_url).

The page needs no bearer token (a browser following a link has none): the ticket in its address is
the credential. It is drawn at random when the sandbox payment is created and handed only to the
payment's owner in `redirect_url`, as a real provider's checkout address is. A wrong or missing
ticket is a 404, the same as an unknown payment. The first outcome is final; posting again only
sends the browser back with the payment's status. API clients may still settle with
`POST .../sandbox/{id}/complete` and the owner's token.

These routes are for browsers, not part of the REST document (`include_in_schema=False`).
"""

from __future__ import annotations

import hmac
from html import escape
from typing import Annotated, get_args
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.payment.callbacks.sandbox import is_started_sandbox_payment, play_shopper
from services.payment.context import Context
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.payments.schemas import SandboxOutcome
from services.payment.providers.sandbox import ledger
from shared.currencies import to_decimal
from shared.db import Document
from shared.errors import AppError, ValidationFailed
from shared.ids import object_id_path, to_object_id

router = APIRouter(prefix="/api/v1/payments/sandbox")

# What the shopper may choose: the API's own SandboxOutcome values.
OUTCOMES: tuple[str, ...] = get_args(SandboxOutcome.model_fields["outcome"].annotation)
MAX_TICKET_LENGTH = 64
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store"}


class NotAForm(AppError):
    status, slug, title = 415, "unsupported-media-type", "The page posts a form"


async def _page_entry(ctx: Context, payment_id: str, ticket: str) -> tuple[Document, Document]:
    """The payment and its sandbox ledger entry, if `ticket` is the page's; else 404."""
    missing = PaymentNotFound(f"No sandbox payment page at this address for payment {payment_id}.")
    payment = await payments.find_payment(ctx.db, to_object_id(payment_id))
    if payment is None or not is_started_sandbox_payment(payment):
        raise missing
    entry = await ledger.entry(ctx.db, payment["provider_payment_id"])
    expected = str(entry.get("page_ticket", "")) if entry else ""
    if entry is None or not expected or not hmac.compare_digest(expected.encode(), ticket.encode()):
        raise missing
    return payment, entry


@router.get("/{payment_id}/page", include_in_schema=False)
async def page(
    payment_id: Annotated[str, object_id_path("Payment id")],
    ticket: Annotated[str, Query(max_length=MAX_TICKET_LENGTH)],
    ctx: Context,
) -> HTMLResponse:
    payment, entry = await _page_entry(ctx, payment_id, ticket)
    amount = to_decimal("sandbox", payment["currency"], payment["amount"])
    buttons = "".join(
        f'<form method="post"><input type="hidden" name="ticket" value="{escape(ticket)}">'
        f'<button name="outcome" value="{outcome}">Payment {outcome}</button></form>'
        for outcome in OUTCOMES
    )
    state = escape(str(entry["status"]))
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox payment</title>'
        '<meta name="viewport" content="width=device-width"></head><body>'
        "<h1>Sandbox payment</h1><p>No money moves here: choose what the provider would answer.</p>"
        f"<p>Payment {escape(payment_id)}: {escape(amount)} {escape(payment['currency'])} ({state})</p>"
        f"{buttons}</body></html>"
    )
    return HTMLResponse(body, headers=NO_STORE)


@router.post("/{payment_id}/page", include_in_schema=False)
async def choose(
    payment_id: Annotated[str, object_id_path("Payment id")], request: Request, ctx: Context
) -> RedirectResponse:
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
        raise NotAForm(f"Send the page's form ({FORM_CONTENT_TYPE}).")
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"), max_num_fields=4)
    ticket = (form.get("ticket") or [""])[0][:MAX_TICKET_LENGTH]
    outcome = (form.get("outcome") or [""])[0]
    payment, _ = await _page_entry(ctx, payment_id, ticket)
    if outcome not in OUTCOMES:
        raise ValidationFailed("The outcome is succeeded or failed.")
    stored = await play_shopper(ctx, payment, outcome)
    return RedirectResponse(
        ctx.settings.return_url(payment_id, stored["status"]), status_code=303, headers=NO_STORE
    )
