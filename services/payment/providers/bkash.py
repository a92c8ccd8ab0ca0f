"""bKash Tokenized Checkout: v1.2.0-beta for payments, v2 "tokenized-checkout" for refunds.

Protocol (bKash's tokenized checkout API): grant a token with the merchant's username/password headers and
app key/secret body; every other call sends `Authorization: <id_token>` and `X-APP-Key`. Create
answers a `bkashURL` for the shopper; bKash sends the browser back to our callback with
`?paymentID=…&status=success|failure|cancel`; only then does our **execute** move the money.
Business errors come back as HTTP 200 with `statusCode != "0000"` (or the legacy `errorCode`, or
v2's `externalCode` envelope).

Decisions:

* **The callback is a hint.** It is unauthenticated and forgeable. For `status=success` we execute
  (once); for anything else we never execute and only ask `payment/status`. What we settle is
  always bKash's own answer, never the query string, and settlement checks our payment id
  (`merchantInvoiceNumber`), amount and currency against the payment.
* **Execute at most once.** It is bKash's one-shot, money-moving call: never retried. Callbacks for
  one paymentID are serialised in this process and a payment that is no longer pending is not
  executed again, so duplicate redirects execute once; across replicas bKash's own one-shot rule
  (a second execute answers 2062/2117) plus the stable event id keep the effect single. Whenever
  execute does not clearly answer "Completed" (timeout, empty body, 5xx, 2062/2117, any error) we
  ask `payment/status` instead.
* **One event id per bKash transaction**: `trx:<trxID>` from execute, the callback's status query
  and reconciliation alike, so whichever reports first settles and the others are duplicates.
  Terminal failures are `status:<paymentID>:<transactionStatus>`.
* **Reconciliation only queries.** bKash moves money only when the merchant executes, and
  `payment/status` says `Initiated` both before and after the shopper approved, so a payment whose
  callback never arrived stays pending (the shopper is not charged); reconciliation never executes.
  A payment that was executed but whose answer we lost is found `Completed` and settled.
* **The answer to the browser** is a 303 to the SPA's page
  `PUBLIC_BASE_URL/payment-result?payment_id=<ours>&status=<our payment status>`, or, when the
  request sends `Accept: application/json`, `200 {"payment_id", "status"}`. Nothing else about the
  payment is revealed to this unauthenticated route. An unknown paymentID is a 404 problem.
* **Create** sends our payment id as `merchantInvoiceNumber` and our order id as `payerReference`
  (what bKash shows the shopper for it is UNCONFIRMED; it is not a wallet number).
* **The callback** takes `paymentID` and `status` from the query string on GET (what bKash sends)
  and POST alike.
* **Refunds** need the payment's trxID (read from `payment/status`). bKash has no idempotency key,
  so before refunding we read the payment's refund list and reuse a refund whose `sku` is our refund
  id (we send the refund id as `sku`).

Not confirmed by the notes, hence tolerant here: `Bearer ` on v2 (constructor argument, raw by
default as in v1.2), the v2 error HTTP status (any status with an `externalCode` is parsed), whether
refund status echoes `sku` (without it an unmatched refund stays "pending" rather than "failed"),
the names of terminal statuses other than `Completed`, and `merchantInvoice` vs
`merchantInvoiceNumber` (both read; an absent one leaves the check to the paymentID binding).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.payment.context import Context, PaymentContext
from services.payment.payments import repository as payments
from services.payment.payments.errors import PaymentNotFound
from services.payment.payments.settlement import settle
from services.payment.providers.base import (
    CreatedPayment,
    EventKind,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    RefundRequest,
    RefundResult,
    RefundState,
)
from services.payment.settings import PaymentSettings
from shared.currencies import Unrepresentable, from_decimal, to_decimal
from shared.db import Database, Document
from shared.logging import log_event

logger = logging.getLogger("payment.bkash")

NAME = "bkash"
CURRENCY = "BDT"
SUCCESS = "0000"
MAINTENANCE = frozenset({"503"})
ALREADY_EXECUTED = frozenset({"2062", "2117", "2068"})
FAILED_STATES = frozenset({"failed", "cancelled", "canceled", "expired", "declined"})
# Refresh this long before the id_token expires (bKash's tokens live an hour).
REFRESH_MARGIN_SECONDS = 300.0
DEFAULT_TOKEN_SECONDS = 3600
TEXT_LIMIT = 255  # bKash's limit on sku and reason

# Paths under BKASH_BASE_URL (v1.2.0-beta) and BKASH_REFUND_BASE_URL (v2).
GRANT, REFRESH = "token/grant", "token/refresh"
CREATE, EXECUTE, STATUS = "create", "execute", "payment/status"
REFUND, REFUND_STATUS = "refund/payment/transaction", "refund/payment/status"


class BkashError(ProviderError):
    """bKash refused (`code` is its business code) or gave no usable answer (`outcome_unknown`)."""

    def __init__(
        self, message: str, *, code: str | None = None, retryable: bool = False, outcome_unknown: bool = False
    ) -> None:
        super().__init__(message, retryable=retryable)
        self.code = code
        self.outcome_unknown = outcome_unknown


class _Unauthorized(Exception):
    """HTTP 401 from bKash's gateway: the request was not processed."""


@dataclass(frozen=True)
class _Token:
    id_token: str
    refresh_token: str | None
    renew_at: float  # time.monotonic() from which the token is renewed


def to_bdt(minor: int) -> str:
    """Poisha to bKash's decimal string: 123450 -> "1234.50" (positive amounts only)."""
    try:
        return to_decimal(NAME, CURRENCY, minor)
    except Unrepresentable as error:
        raise BkashError(f"bKash cannot take this amount: {error.rule}") from error


def from_bdt(value: object) -> int:
    """bKash's decimal string ("100", "600.00") to poisha; anything else is refused, never rounded."""
    try:
        return from_decimal(NAME, CURRENCY, value)
    except Unrepresentable as error:
        raise BkashError(f"bKash sent an amount we cannot book exactly: {error.rule}") from error


def _text(data: Document, *names: str) -> str | None:
    """The first of `names` present as a non-empty value (bKash spells fields differently per version)."""
    for name in names:
        value = data.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def _business_error(data: Document) -> tuple[str, str] | None:
    """(code, message) of an error envelope in any of bKash's three shapes; None for a success."""
    status = data.get("statusCode")
    if status is not None and str(status) != SUCCESS:
        return str(status), str(data.get("statusMessage") or "")
    if data.get("errorCode") not in (None, ""):
        return str(data["errorCode"]), str(data.get("errorMessage") or "")
    if data.get("externalCode") not in (None, ""):
        return str(data["externalCode"]), str(data.get("errorMessageEn") or "")
    return None


def _backoff(attempt: int) -> float:
    delay: float = min(2.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
    return delay


class _KeyedLocks:
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


class BkashProvider:
    name = NAME

    def __init__(
        self,
        settings: PaymentSettings,
        *,
        refund_auth_scheme: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = settings.bkash_base_url.rstrip("/")
        self.refund_base_url = settings.bkash_refund_base_url.rstrip("/")
        self.app_key = settings.bkash_app_key
        self._app_secret = settings.bkash_app_secret
        self.username = settings.bkash_username
        self._password = settings.bkash_password
        self.max_retries = settings.provider_max_retries
        self.refund_auth_scheme = refund_auth_scheme  # "" (raw token, as v1.2) or "Bearer"
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.provider_timeout_seconds),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            headers={"Accept": "application/json"},
            transport=transport,
        )
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()  # single flight: one grant/refresh at a time
        self.callbacks = _KeyedLocks()

    # --- the PaymentProvider interface ------------------------------------------------------------

    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        _require_bdt(request.currency)
        body = {
            "mode": "0011",
            "payerReference": request.order_id,
            "callbackURL": request.callback_url,
            "amount": to_bdt(request.amount),
            "currency": CURRENCY,
            "intent": "sale",
            "merchantInvoiceNumber": request.payment_id,
        }
        data = await self._call(f"{self.base_url}/{CREATE}", body, retries=0)
        payment_id, url = _text(data, "paymentID", "paymentId"), _text(data, "bkashURL")
        if payment_id is None or url is None:
            raise BkashError("bKash's create answer has no paymentID or bkashURL.")
        return CreatedPayment(provider_payment_id=payment_id, redirect_url=url)

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        data = await self._call(
            f"{self.base_url}/{STATUS}", {"paymentID": provider_payment_id}, retries=self.max_retries
        )
        return payment_event(data, provider_payment_id)

    async def cancel_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """bKash has no cancel, but moves money only when we execute, and we execute only a pending
        payment: unless bKash says it completed, the payment is withdrawn by our word alone."""
        event = await self.query_payment(provider_payment_id, payment_id)
        if event.kind in ("payment_succeeded", "payment_failed"):
            return event
        return ProviderEvent(
            event_id=f"cancel:{provider_payment_id}",
            kind="payment_cancelled",
            provider_payment_id=provider_payment_id,
            reference=payment_id,
        )

    async def execute(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """Execute once (the call that moves the money); unless it clearly completed, ask the status."""
        try:
            data = await self._call(
                f"{self.base_url}/{EXECUTE}", {"paymentID": provider_payment_id}, retries=0
            )
        except BkashError as error:
            log_event(
                logger,
                "bkash.execute_unconfirmed",
                logging.WARNING if error.code not in ALREADY_EXECUTED else logging.INFO,
                payment_id=payment_id,
                code=error.code,
                outcome_unknown=error.outcome_unknown,
            )
            return await self.query_payment(provider_payment_id, payment_id)
        event = payment_event(data, provider_payment_id)
        if event.kind == "payment_succeeded":
            return event
        return await self.query_payment(provider_payment_id, payment_id)

    async def refund(self, request: RefundRequest) -> RefundResult:
        _require_bdt(request.currency)
        trx_id = await self._completed_trx(request.provider_payment_id)
        if trx_id is None:
            raise BkashError("Only a completed bKash payment can be refunded.")
        try:
            existing = await self._refund_transactions(request.provider_payment_id, trx_id)
        except BkashError as error:
            if error.retryable:
                raise
            existing = []  # bKash may answer "no refunds" with an error code: nothing of ours exists
        found = _our_refund(existing, request, None)
        if found is not None:
            log_event(logger, "bkash.refund_found", refund_id=request.refund_id)
            return found
        body = {
            "paymentId": request.provider_payment_id,
            "trxId": trx_id,
            "refundAmount": to_bdt(request.amount),
            "sku": request.refund_id[:TEXT_LIMIT],
            "reason": request.reason[:TEXT_LIMIT],
        }
        data = await self._call(
            f"{self.refund_base_url}/{REFUND}", body, retries=0, scheme=self.refund_auth_scheme
        )
        refund_trx_id = _text(data, "refundTrxId", "refundTrxID")
        if refund_trx_id is None:
            raise BkashError(
                "bKash's refund answer has no refundTrxId.", retryable=True, outcome_unknown=True
            )
        return RefundResult(
            refund_trx_id, _refund_state(_text(data, "refundTransactionStatus", "transactionStatus"))
        )

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult:
        trx_id = await self._completed_trx(request.provider_payment_id)
        if trx_id is None:
            return RefundResult(provider_refund_id or "", "failed")
        entries = await self._refund_transactions(request.provider_payment_id, trx_id)
        found = _our_refund(entries, request, provider_refund_id)
        if found is not None:
            return found
        # Absent for sure only if bKash lists refunds with their sku (or lists none at all).
        certain = all("sku" in entry for entry in entries)
        return RefundResult(provider_refund_id or "", "failed" if certain else "pending")

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- helpers of the calls above ----------------------------------------------------------------

    async def _completed_trx(self, provider_payment_id: str) -> str | None:
        data = await self._call(
            f"{self.base_url}/{STATUS}", {"paymentID": provider_payment_id}, retries=self.max_retries
        )
        if str(data.get("transactionStatus", "")).lower() != "completed":
            return None
        return _text(data, "trxID", "trxId")

    async def _refund_transactions(self, provider_payment_id: str, trx_id: str) -> list[Document]:
        data = await self._call(
            f"{self.refund_base_url}/{REFUND_STATUS}",
            {"paymentId": provider_payment_id, "trxId": trx_id},
            retries=self.max_retries,
            scheme=self.refund_auth_scheme,
        )
        entries = data.get("refundTransactions") or []
        return [entry for entry in entries if isinstance(entry, dict)]

    # --- HTTP: tokens, 401 re-grant, retries ------------------------------------------------------

    async def _call(self, url: str, body: Document, *, retries: int, scheme: str = "") -> Document:
        """An authorised call, repeated up to `retries` times when bKash may answer next time."""
        for attempt in range(retries + 1):
            try:
                return await self._authorised(url, body, scheme)
            except BkashError as error:
                if not error.retryable or attempt == retries:
                    raise
                log_event(logger, "bkash.retry", logging.WARNING, url=url, code=error.code)
                await asyncio.sleep(_backoff(attempt))
        raise AssertionError("unreachable")

    async def _authorised(self, url: str, body: Document, scheme: str) -> Document:
        """One call; on HTTP 401 (nothing was processed) re-grant once and send it again."""
        token = await self._id_token()
        try:
            return await self._send(url, body, self._auth_headers(token, scheme))
        except _Unauthorized:
            log_event(logger, "bkash.unauthorized", logging.WARNING)
            if self._token is not None and self._token.id_token == token:
                self._token = None  # every caller that saw this 401 waits for one new grant
        token = await self._id_token()
        try:
            return await self._send(url, body, self._auth_headers(token, scheme))
        except _Unauthorized:
            raise BkashError("bKash refused a freshly granted token (HTTP 401).") from None

    def _auth_headers(self, token: str, scheme: str) -> dict[str, str]:
        return {"Authorization": f"{scheme} {token}" if scheme else token, "X-APP-Key": self.app_key}

    async def _id_token(self) -> str:
        token = self._token
        if token is not None and time.monotonic() < token.renew_at:
            return token.id_token
        async with self._token_lock:
            token = self._token
            if token is not None and time.monotonic() < token.renew_at:
                return token.id_token  # another caller renewed it while we waited
            self._token = await self._renew(token)
            return self._token.id_token

    async def _renew(self, old: _Token | None) -> _Token:
        secret, password = self._secrets()
        credentials = {"app_key": self.app_key, "app_secret": secret}
        if old is not None and old.refresh_token:
            try:
                token = await self._token_call(
                    REFRESH, {**credentials, "refresh_token": old.refresh_token}, password
                )
                log_event(logger, "bkash.token_refreshed")
                return token
            except BkashError as error:
                log_event(logger, "bkash.refresh_failed", logging.WARNING, code=error.code)
        token = await self._token_call(GRANT, credentials, password)
        log_event(logger, "bkash.token_granted")
        return token

    async def _token_call(self, path: str, body: Document, password: str) -> _Token:
        headers = {"username": self.username, "password": password}
        for attempt in range(self.max_retries + 1):
            try:
                data = await self._send(f"{self.base_url}/{path}", body, headers)
                break
            except _Unauthorized:
                raise BkashError("bKash refused the merchant credentials (HTTP 401).") from None
            except BkashError as error:
                if not error.retryable or attempt == self.max_retries:
                    raise
                await asyncio.sleep(_backoff(attempt))
        id_token = _text(data, "id_token")
        if id_token is None:
            raise BkashError("bKash's token answer has no id_token.")
        lifetime = float(data.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        return _Token(id_token, _text(data, "refresh_token"), time.monotonic() + lifetime - margin)

    def _secrets(self) -> tuple[str, str]:
        if self._app_secret is None or self._password is None or not self.app_key or not self.username:
            raise BkashError("bKash is not configured (BKASH_APP_KEY, _APP_SECRET, _USERNAME, _PASSWORD).")
        return self._app_secret.get_secret_value(), self._password.get_secret_value()

    async def _send(self, url: str, body: Document, headers: dict[str, str]) -> Document:
        """One POST; a dict answer, or BkashError saying whether asking again may help."""
        try:
            response = await self._client.post(url, json=body, headers=headers)
        except httpx.TimeoutException as error:
            raise BkashError("bKash did not answer in time.", retryable=True, outcome_unknown=True) from error
        except httpx.TransportError as error:
            raise BkashError("bKash could not be reached.", retryable=True, outcome_unknown=True) from error
        if response.status_code == 401:
            raise _Unauthorized
        try:
            data = response.json()
        except ValueError:
            data = None
        throttled = response.status_code == 429  # refused before processing: asking later may help
        if isinstance(data, dict) and (failure := _business_error(data)) is not None:
            code, message = failure
            retryable = code in MAINTENANCE or throttled or response.status_code >= 500
            raise BkashError(f"bKash refused ({code}): {message[:120]}", code=code, retryable=retryable)
        if throttled:
            raise BkashError("bKash asked us to slow down (HTTP 429).", retryable=True)
        if response.status_code >= 500 or not isinstance(data, dict):
            raise BkashError(
                f"bKash answered HTTP {response.status_code} without a usable body.",
                retryable=True,
                outcome_unknown=True,
            )
        if response.status_code >= 400:
            raise BkashError(f"bKash answered HTTP {response.status_code}.")
        return data


def _require_bdt(currency: str) -> None:
    if currency.upper() != CURRENCY:
        raise BkashError(f"bKash takes BDT only, not {currency[:3]}.")


def payment_event(data: Document, provider_payment_id: str) -> ProviderEvent:
    """What an execute or status answer vouches for, with an id stable per bKash transaction."""
    echoed = _text(data, "paymentID", "paymentId")
    if echoed is not None and echoed != provider_payment_id:
        raise BkashError("bKash answered about another payment.")
    state = str(data.get("transactionStatus") or "unknown")
    trx_id = _text(data, "trxID", "trxId")
    amount = from_bdt(data["amount"]) if data.get("amount") not in (None, "") else None
    common: dict[str, Any] = {
        "provider_payment_id": provider_payment_id,
        "amount": amount,
        "currency": _text(data, "currency") or CURRENCY,
        "reference": _text(data, "merchantInvoiceNumber", "merchantInvoice"),
    }
    if state.lower() == "completed" and trx_id is not None:
        if amount is None:
            raise BkashError("bKash reported a completed payment without its amount.")
        return ProviderEvent(event_id=f"trx:{trx_id}", kind="payment_succeeded", **common)
    kind: EventKind = "payment_failed" if state.lower() in FAILED_STATES else "payment_pending"
    return ProviderEvent(event_id=f"status:{provider_payment_id}:{state.lower()}", kind=kind, **common)


def _refund_state(status: str | None) -> RefundState:
    status = (status or "").lower()
    if status == "completed":
        return "succeeded"
    return "failed" if status in FAILED_STATES else "pending"


def _our_refund(
    entries: list[Document], request: RefundRequest, provider_refund_id: str | None
) -> RefundResult | None:
    """Our refund among bKash's: by its refundTrxId when we know it, else by our refund id in `sku`."""
    for entry in entries:
        refund_trx_id = _text(entry, "refundTrxId", "refundTrxID")
        ours = (provider_refund_id and refund_trx_id == provider_refund_id) or entry.get(
            "sku"
        ) == request.refund_id
        if ours and refund_trx_id is not None:
            return RefundResult(
                refund_trx_id, _refund_state(_text(entry, "refundTransactionStatus", "transactionStatus"))
            )
    return None


def create(settings: PaymentSettings, db: Database) -> BkashProvider:
    return BkashProvider(settings, refund_auth_scheme=settings.bkash_refund_auth_scheme)


# --- the browser's return from bKash -------------------------------------------------------------


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
    query = urlencode({"payment_id": payment_id, "status": payment_status})
    return RedirectResponse(
        f"{ctx.settings.public_base_url}/payment-result?{query}",
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
    async with provider.callbacks.hold(provider_payment_id):
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
