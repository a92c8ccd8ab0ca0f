"""The brute-force rules: after some failures a CAPTCHA, after more a temporary lockout (429).

Failures are counted per account and per client IP. A successful login clears the account's count,
not the IP's, so an attacker cannot reset the IP counter by logging into an account of their own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.auth.login_attempts import repository
from services.auth.settings import AuthSettings
from shared.db import Database, Document
from shared.errors import CaptchaRequired, TooManyAttempts


@dataclass(frozen=True)
class Thresholds:
    captcha_after: int  # 0: never
    lock_after: int


def account_key(email: str) -> str:
    return f"account:{email}"


def ip_key(ip: str) -> str:
    return f"ip:{ip}"


@dataclass(frozen=True)
class LoginGuard:
    db: Database
    settings: AuthSettings

    def _thresholds(self, key: str) -> Thresholds:
        s = self.settings
        if key.startswith("ip:"):
            return Thresholds(s.login_ip_captcha_after_failures, s.login_ip_lockout_after_failures)
        return Thresholds(s.login_captcha_after_failures, s.login_lockout_after_failures)

    async def check(self, email: str, ip: str, now: datetime, *, captcha_ok: bool) -> None:
        """Refuse the attempt before any password is checked: 429 when locked, CAPTCHA when due."""
        counters = await repository.active_counters(self.db, [account_key(email), ip_key(ip)], now)
        for key, doc in counters.items():
            if doc["count"] >= self._thresholds(key).lock_after:
                raise _locked(doc, now)
        if self.settings.captcha_enabled and not captcha_ok:
            for key, doc in counters.items():
                captcha_after = self._thresholds(key).captcha_after
                if captcha_after and doc["count"] >= captcha_after:
                    raise CaptchaRequired(
                        "Too many failed logins: send a CAPTCHA solution in the X-Captcha-Response header."
                    )

    async def record_failure(self, email: str, ip: str, now: datetime) -> None:
        window = timedelta(seconds=self.settings.login_failure_window_seconds)
        lock_for = timedelta(seconds=self.settings.login_lockout_seconds)
        for key in (account_key(email), ip_key(ip)):
            await repository.record_failure(
                self.db,
                key,
                now,
                window=window,
                lock_after=self._thresholds(key).lock_after,
                lock_for=lock_for,
            )

    async def record_success(self, email: str) -> None:
        await repository.clear(self.db, account_key(email))


def _locked(doc: Document, now: datetime) -> TooManyAttempts:
    retry_after = max(1, math.ceil((doc["expires_at"] - now).total_seconds()))
    return TooManyAttempts(
        "Too many failed logins; try again later.",
        retry_after_seconds=retry_after,
    )
