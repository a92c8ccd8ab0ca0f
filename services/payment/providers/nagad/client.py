"""The Nagad provider: initialize -> complete (the shopper goes to Nagad's page) -> verify; refunds
by "purchase cancel".

* Nagad has no idempotency header: the order id is the idempotency key. It is derived from our
  payment id (`order_id_for`), so a retried initialize reuses it and Nagad refuses a second order.
* The browser callback is only a hint (services/payment/callbacks/nagad.py): the payment's state is
  always taken from verify, which is also what reconciliation asks (same event ids, so either
  settles a payment once).
* Verify answers plain (unsigned) JSON: its trust rests on TLS to Nagad's host and on the checks
  made here (merchant id, reference id, order id) and in settlement (amount, our reference).
* `X-KM-IP-V4` is the shopper's address (as the gateway vouches for it) on initialize and complete,
  and this server's public address (NAGAD_SERVER_IP) on the calls the server starts itself.
* Refunds ("purchase cancel"): cancel.py.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlencode

import httpx

from services.payment.providers.base import (
    CreatedPayment,
    InvalidNotification,
    PaymentRequest,
    ProviderError,
    ProviderEvent,
    RefundRequest,
    RefundResult,
)
from services.payment.providers.nagad.cancel import (
    RequestDateRule,
    cancel_payload,
    judge_answer,
    judge_from_verify,
    request_date,
)
from services.payment.providers.nagad.envelope import Envelope, load_private_key, load_public_key
from services.payment.providers.nagad.wire import (
    API_VERSION,
    BDT_CURRENCY_CODE,
    CANCEL_PATH,
    CANCEL_QUERY,
    CANCEL_SENSITIVE_FIELD,
    CLIENT_TYPE,
    COMPLETE_PATH,
    INITIALIZE_PATH,
    LOOPBACK_IP,
    PAID,
    REFERENCE,
    REFUNDABLE_STATUSES,
    RETURNED_STATUSES,
    SEND_MERCHANT_ID_HEADER,
    VERIFY_PATH,
    VERIFY_SENDS_HEADERS,
    NotSent,
    Refused,
    dhaka_stamp,
    from_taka,
    ipv4_or,
    json_of,
    kind_of,
    order_id_for,
    payment_id_for,
    to_taka,
)
from services.payment.settings import PaymentSettings
from shared.db import Database
from shared.logging import log_event

logger = logging.getLogger("payment.nagad")
T = TypeVar("T")


class NagadProvider:
    name = "nagad"

    def __init__(
        self,
        *,
        base_url: str,
        merchant_id: str,
        envelope: Envelope,
        timeout_seconds: float,
        max_retries: int,
        server_ip: str = LOOPBACK_IP,
        refund_date_rule: RequestDateRule = "original",
    ) -> None:
        self.merchant_id = merchant_id
        self.envelope = envelope
        self.max_retries = max_retries
        self.server_ip = server_ip
        self.refund_date_rule: RequestDateRule = refund_date_rule
        # One pooled client for every call; nothing connects until the first request.
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout_seconds,
            headers={"Accept": "application/json"},
        )

    # Payments ---------------------------------------------------------------------------------
    async def create_payment(self, request: PaymentRequest) -> CreatedPayment:
        """Initialize (order id = our payment id) and complete; the shopper goes to Nagad's page."""
        if request.currency.upper() != "BDT":
            raise ProviderError(f"Nagad takes BDT only, not {request.currency}")
        order_id = order_id_for(request.payment_id)
        shopper = ipv4_or(request.client_ip, self.server_ip)
        # A retry after a lost answer meets 16_0006_083 (AlreadyInitialized): this payment ends there.
        initialized = await self._retrying(lambda: self._initialize(order_id, shopper), only_unsent=False)
        reference, challenge = initialized.get("paymentReferenceId"), initialized.get("challenge")
        if not isinstance(reference, str) or not REFERENCE.match(reference) or not isinstance(challenge, str):
            raise ProviderError("Nagad's initialize answer lacks paymentReferenceId or challenge")
        redirect_url = await self._retrying(
            lambda: self._complete(reference, order_id, request, challenge, shopper), only_unsent=False
        )
        log_event(logger, "nagad.payment_created", payment_id=request.payment_id, order_id=order_id)
        return CreatedPayment(provider_payment_id=reference, redirect_url=redirect_url)

    async def _initialize(self, order_id: str, shopper: str) -> dict[str, Any]:
        stamp = dhaka_stamp()
        sensitive, signature = self.envelope.seal(
            {
                "merchantId": self.merchant_id,
                "datetime": stamp,
                "orderId": order_id,
                "challenge": secrets.token_hex(20),  # 40 alphanumeric characters, as the sample
            }
        )
        path = INITIALIZE_PATH.format(merchant_id=quote(self.merchant_id, safe=""), order_id=order_id)
        body = await self._call(
            "POST", path, {"dateTime": stamp, "sensitiveData": sensitive, "signature": signature}, ip=shopper
        )
        return self.envelope.open(body.get("sensitiveData"), body.get("signature"))

    async def _complete(
        self, reference: str, order_id: str, request: PaymentRequest, challenge: str, shopper: str
    ) -> str:
        sensitive, signature = self.envelope.seal(
            {
                "merchantId": self.merchant_id,
                "orderId": order_id,
                "currencyCode": BDT_CURRENCY_CODE,
                "amount": to_taka(request.amount),
                "challenge": challenge,  # the one from initialize's *answer*
            }
        )
        body = await self._call(
            "POST",
            COMPLETE_PATH.format(reference=quote(reference, safe="=")),
            {"sensitiveData": sensitive, "signature": signature, "merchantCallbackURL": request.callback_url},
            ip=shopper,
        )
        url = body.get("callBackUrl")
        if (
            body.get("status") != "Success"
            or not isinstance(url, str)
            or not url.startswith(("https://", "http://"))
        ):
            raise ProviderError(f"Nagad did not accept the order (status {body.get('status')!r})")
        return url

    async def verify(self, reference: str) -> dict[str, Any]:
        """Nagad's own answer about one payment reference (plain JSON)."""
        if not REFERENCE.match(reference):
            raise ProviderError("not a Nagad payment reference")
        path = VERIFY_PATH.format(reference=quote(reference, safe="="))
        return await self._retrying(
            lambda: self._call("GET", path, None, headers=VERIFY_SENDS_HEADERS, ip=self.server_ip),
            only_unsent=False,
        )

    async def verified_event(self, reference: str) -> ProviderEvent:
        """Verify, check that the answer is about this merchant and reference, and make it an event.

        Amount and reference are left for settlement to compare with our payment (it records a
        mismatch in the inbox). The event id is the same whichever path asks (callback or
        reconciliation), so a payment settles once.
        """
        data = await self.verify(reference)
        status = data.get("status")
        if not isinstance(status, str) or not status:
            raise InvalidNotification("Nagad's verify answer has no status")
        if data.get("paymentRefId") not in (None, reference):
            raise InvalidNotification("Nagad's verify answer is about another payment reference")
        if data.get("merchantId") != self.merchant_id and (
            status == PAID or data.get("merchantId") is not None
        ):
            raise InvalidNotification("Nagad's verify answer is about another merchant")
        kind = kind_of(status)
        if status in RETURNED_STATUSES:
            log_event(logger, "nagad.needs_attention", logging.WARNING, reference=reference, status=status)
        order_id = data.get("orderId")
        if kind == "payment_succeeded" and (data.get("amount") is None or not isinstance(order_id, str)):
            raise InvalidNotification("Nagad reports a success without amount or order id")
        return ProviderEvent(
            event_id=f"verify:{reference}:{status}",
            kind=kind,
            provider_payment_id=reference,
            amount=None if data.get("amount") is None else from_taka(data["amount"]),
            currency="BDT",  # Nagad settles in taka only (currencyCode 050)
            reference=payment_id_for(order_id) if isinstance(order_id, str) else None,
        )

    async def query_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        try:
            return await self.verified_event(provider_payment_id)
        except InvalidNotification as error:
            # Reconciliation stops on nothing but ProviderError: an answer we refuse is one.
            raise ProviderError(str(error)) from error

    async def cancel_payment(self, provider_payment_id: str, payment_id: str) -> ProviderEvent:
        """Nagad has no way to withdraw a payment page: the shopper can still pay, and a late payment
        is refunded. What verify says now is all there is."""
        return await self.query_payment(provider_payment_id, payment_id)

    # Refunds ----------------------------------------------------------------------------------
    async def refund(self, request: RefundRequest) -> RefundResult:
        """Purchase cancel, full or partial, of a payment verify says is paid (cancel.py).

        Sent once: Nagad is not known to deduplicate cancels, so only a request that surely never
        left is repeated. A `{reason, message}` answer is a refusal; anything else that is not a
        signed, documented success leaves the refund pending for `query_refund` to settle.
        """
        if request.currency.upper() != "BDT":
            raise ProviderError(f"Nagad refunds BDT only, not {request.currency}")
        paid = await self.verify(request.provider_payment_id)
        if paid.get("status") not in REFUNDABLE_STATUSES or paid.get("merchantId") != self.merchant_id:
            raise ProviderError(f"Nagad payment is {paid.get('status')!r}: nothing to refund")
        try:
            date = request_date(paid, request.payment_started_at, self.refund_date_rule)
            payload = cancel_payload(self.merchant_id, request, paid, date, self.envelope.fits)
        except InvalidNotification as error:
            raise ProviderError(str(error)) from error
        sensitive, signature = self.envelope.seal(payload)
        query = {"paymentRefId": request.provider_payment_id, "orderId": str(paid.get("orderId") or "")}
        path = f"{CANCEL_PATH}?{urlencode({name: query[name] for name in CANCEL_QUERY})}"
        body = {CANCEL_SENSITIVE_FIELD: sensitive, "signature": signature}
        try:
            answered = await self._retrying(
                lambda: self._call("POST", path, body, ip=self.server_ip), only_unsent=True
            )
            answer = self.envelope.open(answered.get("sensitiveData"), answered.get("signature"))
        except (Refused, NotSent):
            raise  # refused, or surely never sent: failed / pending until verify shows nothing moved
        except ProviderError as error:
            # A 5xx, a page that is not JSON, an answer that fails its signature: the cancel may have
            # happened all the same. Unknown, so pending, never "failed".
            raise ProviderError(str(error), retryable=True) from error
        return judge_answer(answer, request)

    async def query_refund(self, request: RefundRequest, provider_refund_id: str | None) -> RefundResult:
        """A refund left pending (unknown answer, or none), judged from verify (cancel.py)."""
        return judge_from_verify(await self.verify(request.provider_payment_id), request, provider_refund_id)

    async def aclose(self) -> None:
        await self.http.aclose()

    # Transport --------------------------------------------------------------------------------
    def _headers(self, ip: str) -> dict[str, str]:
        headers = {
            "X-KM-Api-Version": API_VERSION,
            "X-KM-IP-V4": ip,
            "X-KM-Client-Type": CLIENT_TYPE,
        }
        if SEND_MERCHANT_ID_HEADER:
            headers["X-KM-MC-Id"] = self.merchant_id
        return headers

    async def _call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        body: Mapping[str, Any] | None,
        *,
        ip: str,
        headers: bool = True,
    ) -> dict[str, Any]:
        """One call; `ip` is X-KM-IP-V4: the shopper's, or this server's for calls it starts."""
        try:
            response = await self.http.request(
                method, path, json=body, headers=self._headers(ip) if headers else None
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise NotSent(f"Nagad unreachable: {type(error).__name__}", retryable=True) from error
        except httpx.HTTPError as error:
            raise ProviderError(f"Nagad call failed: {type(error).__name__}", retryable=True) from error
        return json_of(response)

    async def _retrying(self, call: Callable[[], Awaitable[T]], *, only_unsent: bool) -> T:
        """Repeat a call that failed in a way worth repeating, at most `max_retries` times."""
        attempt = 0
        while True:
            try:
                return await call()
            except ProviderError as error:
                worth_it = isinstance(error, NotSent) if only_unsent else error.retryable
                if not worth_it or attempt >= self.max_retries:
                    raise
            attempt += 1
            await asyncio.sleep(0.2 * 2**attempt)


def create(settings: PaymentSettings, db: Database) -> NagadProvider:
    """The provider from the settings; a Nagad without its keys refuses to start (named here)."""
    secret = settings.nagad_merchant_private_key
    missing = [
        name
        for name, value in (
            ("NAGAD_MERCHANT_ID", settings.nagad_merchant_id),
            ("NAGAD_MERCHANT_PRIVATE_KEY", secret.get_secret_value() if secret else ""),
            ("NAGAD_PUBLIC_KEY", settings.nagad_public_key),
        )
        if not value
    ]
    if missing:
        raise ValueError(f"the nagad provider is enabled but {', '.join(missing)} is not set")
    assert secret is not None
    envelope = Envelope(
        load_private_key(secret.get_secret_value()),
        load_public_key(settings.nagad_public_key),
        settings.nagad_signature_algorithm,
    )
    return NagadProvider(
        base_url=settings.nagad_base_url,
        merchant_id=settings.nagad_merchant_id,
        envelope=envelope,
        timeout_seconds=settings.provider_timeout_seconds,
        max_retries=settings.provider_max_retries,
        server_ip=settings.nagad_server_ip or LOOPBACK_IP,
        refund_date_rule=settings.nagad_refund_request_date,
    )
