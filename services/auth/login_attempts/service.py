"""Brute-force defences that escalate instead of locking anyone out.

After OWASP's Authentication Cheat Sheet ("Login Throttling", "Account Lockout"): a hard lockout
lets anyone who knows an email address (the admin's is easy to guess) keep its owner out, so there
is none. Failures are counted per account (the normalised email) and per client (an IPv4 address;
for IPv6 the /64, which one subscriber usually holds whole; IPv4-mapped IPv6 counts as IPv4), each
count forgotten LOGIN_FAILURE_WINDOW_SECONDS after its last failure. Past a threshold the cost of
every further attempt rises; the right password always gets through:

1. **CAPTCHA.** Past LOGIN_CAPTCHA_AFTER_FAILURES for the account, or LOGIN_IP_CAPTCHA_AFTER_FAILURES
   for the client, an attempt without a CAPTCHA solution verified by the gateway is refused with
   428 `captcha-required` before any password is checked, and is not counted. An attempt with one is
   checked as usual. Each further guess costs the guesser a solution, while the owner, or anyone
   else behind the same address, gets in with the right password and one solution, however many
   failures strangers have caused.
2. **Delay.** Past LOGIN_DELAY_AFTER_FAILURES for the account (LOGIN_IP_DELAY_AFTER_FAILURES for the
   client), a *wrong* attempt is answered only after LOGIN_DELAY_BASE_SECONDS, doubled for every
   further failure up to LOGIN_DELAY_MAX_SECONDS (the longer of the account's and the client's
   delays). The right password is never delayed: a delay strangers could impose on the owner would
   only be a slower lockout. The delay slows a script that guesses in sequence and keeps every
   failing request, and so one of the client's in-flight slots at the gateway, busy for longer; it
   does not bound the guess rate by itself (a client that stops waiting learns of the failure from
   the missing success): the CAPTCHA and the gateway's per-client rate limit do.
3. **Nothing more.** No number of failures refuses the right password that comes with a solution
   (where one is demanded). With CAPTCHA_PROVIDER=off (development) step 1 is skipped: the delays
   and the gateway's rate limit remain, and the right password is never refused.

Concurrency: an attempt is counted as a failure before its password is checked (an atomic increment
that returns the new count), and the CAPTCHA threshold is judged on that count, so a burst of
concurrent attempts without a solution cannot all slip under it. A success clears the account's
count, but only takes its own attempt back from the client's: logging into an account of one's
own never resets the counter of the address one guesses from.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.auth import metrics
from services.auth.login_attempts import repository
from services.auth.settings import AuthSettings
from shared.db import Database
from shared.errors import CaptchaRequired
from shared.forwarding import client_group

# Doubling stops here; LOGIN_DELAY_MAX_SECONDS caps the delay long before.
_MAX_DOUBLINGS = 16


def account_key(email: str) -> str:
    return f"account:{email}"


def client_key(ip: str) -> str:
    """One key per client, as the gateway's limits count them: an IPv4 address, an IPv6 /64
    (IPv4-mapped IPv6 folded to IPv4); anything else as it is, cut short."""
    return f"ip:{client_group(ip)[:64]}"


def failure_delay(failures: int, after: int, *, base: float, cap: float) -> float:
    """Seconds a wrong attempt waits when it is failure number `failures` and delays start after
    `after` failures: `base`, doubled for every further failure, at most `cap`."""
    over = failures - after
    if over <= 0 or base <= 0 or cap <= 0:
        return 0.0
    return float(min(cap, base * 2 ** min(over - 1, _MAX_DOUBLINGS)))


@dataclass(frozen=True)
class Attempt:
    """A login attempt let through to the password check, already counted as a failure."""

    account: str
    client: str
    account_failures: int  # counts including this attempt
    client_failures: int


@dataclass(frozen=True)
class LoginGuard:
    db: Database
    settings: AuthSettings

    async def admit(self, email: str, ip: str, now: datetime, *, captcha_ok: bool) -> Attempt:
        """Count the attempt, or refuse it with 428 when a CAPTCHA is due and none was solved."""
        account, client = account_key(email), client_key(ip)
        # The cheap refusal first: a key already past its threshold costs one read, and no write.
        known = await repository.active_counts(self.db, [account, client], now)
        self._demand_captcha(known.get(account, 0), known.get(client, 0), captcha_ok=captcha_ok)
        window = timedelta(seconds=self.settings.login_failure_window_seconds)
        account_failures, client_failures = await asyncio.gather(
            repository.count_attempt(self.db, account, now, window=window),
            repository.count_attempt(self.db, client, now, window=window),
        )
        try:
            # Judged again on the counts this attempt took: concurrent attempts may have raced past.
            self._demand_captcha(account_failures - 1, client_failures - 1, captcha_ok=captcha_ok)
        except CaptchaRequired:
            await self._take_back(account, client)
            raise
        return Attempt(account, client, account_failures, client_failures)

    async def failed(self, attempt: Attempt) -> float:
        """The attempt stays counted; it is answered late once a count is past its delay threshold."""
        s = self.settings
        delay = max(
            failure_delay(
                attempt.account_failures,
                s.login_delay_after_failures,
                base=s.login_delay_base_seconds,
                cap=s.login_delay_max_seconds,
            ),
            failure_delay(
                attempt.client_failures,
                s.login_ip_delay_after_failures,
                base=s.login_delay_base_seconds,
                cap=s.login_delay_max_seconds,
            ),
        )
        metrics.login("failed")
        if delay:
            metrics.login_delayed()
            await asyncio.sleep(delay)
        return delay

    async def succeeded(self, attempt: Attempt) -> None:
        """The right password: the account starts afresh; the client only gets this attempt back."""
        metrics.login("succeeded")
        await asyncio.gather(
            repository.clear(self.db, attempt.account),
            repository.uncount_attempt(self.db, attempt.client),
        )

    async def _take_back(self, account: str, client: str) -> None:
        await asyncio.gather(
            repository.uncount_attempt(self.db, account), repository.uncount_attempt(self.db, client)
        )

    def _demand_captcha(self, account_failures: int, client_failures: int, *, captcha_ok: bool) -> None:
        s = self.settings
        if captcha_ok or not s.captcha_enabled:
            return
        if _reached(account_failures, s.login_captcha_after_failures) or _reached(
            client_failures, s.login_ip_captcha_after_failures
        ):
            metrics.login("captcha_required")
            raise CaptchaRequired(
                "Too many failed logins: send a CAPTCHA solution in the X-Captcha-Response header."
            )


def _reached(failures: int, threshold: int) -> bool:
    return threshold > 0 and failures >= threshold
