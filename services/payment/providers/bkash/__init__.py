"""bKash Tokenized Checkout: v1.2.0-beta for payments, v2 "tokenized-checkout" for refunds.

`client.py` is the provider (create, execute, status, refunds), `transport.py` the HTTP underneath
(token grant and refresh, the 401 re-grant, retries), `answers.py` what bKash's answers mean. The
browser's return from bKash is received by `services/payment/callbacks/bkash.py`. The protocol and
the choices made about it are described in docs/providers.md; in short:

* The callback is a hint (it is unauthenticated): we settle bKash's own answer to execute or to a
  status query, never the query string.
* Execute, the call that moves the money, is sent at most once per callback and never retried;
  whenever it does not clearly answer "Completed" we ask `payment/status` instead.
* One event id per bKash transaction (`trx:<trxID>`), whoever reports it first.
* Reconciliation only queries: bKash moves money only when we execute.
* bKash has no idempotency key and its refund status does not echo our `sku`: a refund whose answer
  was lost is recognised as the new refundTrxId of its amount that no other refund of ours owns,
  against the list recorded just before it was sent.
* With Redis, every replica shares one token (tokens.py): bKash allows about two renewals an hour.
"""

from services.payment.providers.bkash.answers import BkashError, from_bdt, payment_event, to_bdt
from services.payment.providers.bkash.client import BkashProvider, create

__all__ = ["BkashError", "BkashProvider", "create", "from_bdt", "payment_event", "to_bdt"]
