"""bKash over HTTP: the merchant's token, authorised calls, and what is worth sending again.

The token is granted with the merchant's username/password headers and app key/secret body, lives
an hour, and is renewed a little before it ends (by refresh, falling back to a new grant), one
renewal at a time however many calls (and, with Redis, replicas) wait for it (tokens.py). Every
other call sends `Authorization: <id_token>`
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

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis

from services.payment.providers.bkash.answers import MAINTENANCE, BkashError, business_error, text
from services.payment.providers.bkash.tokens import Token, TokenCache, redis_key
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
        redis = (
            Redis.from_url(settings.redis_url, socket_timeout=settings.health_check_timeout_seconds)
            if settings.redis_url
            else None
        )
        # A renewal is at most a refresh and a grant, each with its retries: the lease outlives it.
        attempts = 2 * (settings.provider_max_retries + 1)
        self.tokens = TokenCache(
            self._renew,
            redis=redis,
            key=redis_key(settings.bkash_redis_prefix, self.app_key, self.base_url),
            lease_seconds=attempts * (settings.provider_timeout_seconds + 2.0) + 5.0,
        )

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
        await self.tokens.aclose()

    async def _authorised(self, url: str, body: Document, scheme: str) -> Document:
        """One call; on HTTP 401 (nothing was processed) re-grant once and send it again."""
        token = await self.tokens.id_token()
        try:
            return await self._send(url, body, self._auth_headers(token, scheme))
        except _Unauthorized:
            log_event(logger, "bkash.unauthorized", logging.WARNING)
            await self.tokens.discard(token)  # every caller that saw this 401 waits for one new grant
        token = await self.tokens.id_token()
        try:
            return await self._send(url, body, self._auth_headers(token, scheme))
        except _Unauthorized:
            raise BkashError("bKash refused a freshly granted token (HTTP 401).") from None

    def _auth_headers(self, token: str, scheme: str) -> dict[str, str]:
        return {"Authorization": f"{scheme} {token}" if scheme else token, "X-APP-Key": self.app_key}

    async def _renew(self, old: Token | None) -> Token:
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

    async def _token_call(self, path: str, body: Document, password: str) -> Token:
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
        now = time.time()
        return Token(id_token, text(data, "refresh_token"), now + lifetime - margin, now + lifetime)

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
