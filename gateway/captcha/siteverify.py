"""Hosted CAPTCHAs (Turnstile, hCaptcha, reCAPTCHA): the widget's token checked at `siteverify`.

One form POST (`secret`, `response`, `remoteip`: the one body all three accept), a short timeout,
and a closed failure: an unreachable, slow or confused provider means 503, never a pass. Spent
tokens are also remembered by the replay guard, keyed by a hash (the token itself is never stored).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection
from typing import Any

import httpx

from gateway.captcha.config import TOKEN_LIFETIME_SECONDS, CaptchaProvider
from gateway.captcha.verdicts import CaptchaUnavailable, Checked, Verdict
from shared.logging import log_event

# Turnstile tokens are at most 2048 characters; the others are shorter.
MAX_TOKEN_CHARS = 4096
# Error codes that say our own configuration is wrong, not the client's token.
_CONFIGURATION_ERRORS = frozenset({"missing-input-secret", "invalid-input-secret", "sitekey-secret-mismatch"})
_SPENT = "timeout-or-duplicate"

logger = logging.getLogger("gateway.captcha")


class SiteVerifier:
    def __init__(
        self,
        client: httpx.AsyncClient,
        provider: CaptchaProvider,
        url: str,
        secret: str,
        hostnames: Collection[str] = (),
    ) -> None:
        self._client = client
        self.provider = provider
        self.url = url
        self._secret = secret
        self.hostnames = frozenset(hostnames)
        self.token_lifetime_seconds = TOKEN_LIFETIME_SECONDS[provider]

    async def check(self, token: str, remote_ip: str) -> Checked:
        if not token or len(token) > MAX_TOKEN_CHARS:
            return Checked(Verdict.INVALID)
        form = {"secret": self._secret, "response": token}
        if remote_ip:
            form["remoteip"] = remote_ip
        answer = await self._post(form)
        codes = [str(code) for code in answer.get("error-codes") or []]
        if _CONFIGURATION_ERRORS.intersection(codes):
            log_event(
                logger, "captcha.provider_rejects_secret", logging.ERROR, provider=self.provider, codes=codes
            )
            raise CaptchaUnavailable
        if answer.get("success") is not True:
            return Checked(Verdict.REUSED if _SPENT in codes else Verdict.INVALID)
        if self.hostnames and answer.get("hostname") not in self.hostnames:
            log_event(logger, "captcha.foreign_hostname", logging.WARNING, provider=self.provider)
            return Checked(Verdict.INVALID)
        key = f"{self.provider}:{hashlib.sha256(token.encode()).hexdigest()}"
        return Checked(Verdict.VALID, replay_key=key, ttl_seconds=self.token_lifetime_seconds)

    async def _post(self, form: dict[str, str]) -> dict[str, Any]:
        try:
            response = await self._client.post(self.url, data=form)
        except httpx.HTTPError as exc:
            log_event(
                logger,
                "captcha.provider_unavailable",
                logging.WARNING,
                provider=self.provider,
                error=type(exc).__name__,
            )
            raise CaptchaUnavailable from exc
        try:
            answer = response.json() if response.status_code == 200 else None
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            log_event(
                logger,
                "captcha.provider_unavailable",
                logging.WARNING,
                provider=self.provider,
                status=response.status_code,
            )
            raise CaptchaUnavailable
        return answer
