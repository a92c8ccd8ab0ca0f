"""bKash over HTTP: the merchant's token, authorised calls, and what is worth sending again.

The token is granted with the merchant's username/password headers and app key/secret body, lives
an hour, and is renewed a little before it ends (by refresh, falling back to a new grant), one
renewal at a time however many calls wait for it. Every other call sends `Authorization: <id_token>`
(v2 refunds: with a configurable scheme) and `X-APP-Key`. An HTTP 401 means nothing was processed:
the token is renewed once and the call sent again. Only answers that say "not processed, ask later"
(timeouts, connection errors, 5xx, 429, maintenance) are retryable, and only calls that are safe to
repeat are repeated (the caller says how often: execute and refunds never).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass

import httpx
from pydantic import SecretStr

from services.payment.providers.bkash.answers import MAINTENANCE, BkashError, business_error, text
from services.payment.settings import PaymentSettings
from shared.db import Document
from shared.logging import log_event

logger = logging.getLogger("payment.bkash")

# Refresh this long before the id_token expires (bKash's tokens live an hour).
REFRESH_MARGIN_SECONDS = 300.0
DEFAULT_TOKEN_SECONDS = 3600
GRANT, REFRESH = "token/grant", "token/refresh"


class _Unauthorized(Exception):
    """HTTP 401 from bKash's gateway: the request was not processed."""


@dataclass(frozen=True)
class _Token:
    id_token: str
    refresh_token: str | None
    renew_at: float  # time.monotonic() from which the token is renewed


def _backoff(attempt: int) -> float:
    delay: float = min(2.0, 0.2 * 2**attempt) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
    return delay


class BkashTransport:
    def __init__(self, settings: PaymentSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = settings.bkash_base_url.rstrip("/")
        self.app_key = settings.bkash_app_key
        self.username = settings.bkash_username
        self.max_retries = settings.provider_max_retries
        self._app_secret: SecretStr | None = settings.bkash_app_secret
        self._password: SecretStr | None = settings.bkash_password
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.provider_timeout_seconds),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=10),
            headers={"Accept": "application/json"},
            transport=transport,
        )
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()  # single flight: one grant/refresh at a time

    async def call(self, url: str, body: Document, *, retries: int, scheme: str = "") -> Document:
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

    async def aclose(self) -> None:
        await self._client.aclose()

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
        id_token = text(data, "id_token")
        if id_token is None:
            raise BkashError("bKash's token answer has no id_token.")
        lifetime = float(data.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        return _Token(id_token, text(data, "refresh_token"), time.monotonic() + lifetime - margin)

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
        if isinstance(data, dict) and (failure := business_error(data)) is not None:
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
