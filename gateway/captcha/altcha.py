"""ALTCHA (PoW v2, the protocol of widget v3): challenges signed with CAPTCHA_SECRET, checked locally.

A challenge asks for the counter whose PBKDF2-SHA-256 key (`ALTCHA_COST` iterations) starts with a
given prefix. The counter is drawn between ALTCHA_MAX_NUMBER/2 and ALTCHA_MAX_NUMBER and the prefix
is half the key ("deterministic" challenges), so every challenge costs a client a known amount of
work (about 0.75 x ALTCHA_MAX_NUMBER x ALTCHA_COST iterations) and none is trivial. Checking a
solution costs one derivation, and only after the challenge's signature has been checked, so a
forged payload costs an HMAC. ALTCHA is stateless: refusing a second use is the replay guard's job.

`create` and `check` are CPU-bound (one derivation each): callers run them in a worker thread.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from typing import Any

from altcha import Challenge, Payload, create_challenge, verify_solution

from gateway.captcha.verdicts import Checked, Verdict

ALGORITHM = "PBKDF2/SHA-256"
# A widget's payload is under 1 KiB; anything much larger is not one.
MAX_PAYLOAD_CHARS = 4096


class AltchaChallenges:
    def __init__(
        self,
        secret: str,
        *,
        cost: int,
        max_number: int,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("an ALTCHA HMAC key is required")
        self._secret = secret
        self.cost = cost
        self.max_number = max_number
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def create(self) -> dict[str, Any]:
        """A fresh, signed, expiring challenge: the JSON the ALTCHA widget fetches."""
        low = self.max_number // 2
        counter = low + secrets.randbelow(self.max_number - low + 1)
        challenge: Challenge = create_challenge(
            ALGORITHM,
            self.cost,
            counter=counter,
            expires_at=int(self._clock()) + self.ttl_seconds,
            hmac_secret=self._secret,
        )
        return challenge.to_dict()

    def check(self, encoded: str) -> Checked:
        """Verify a widget payload (base64 JSON of challenge and solution): signature, expiry, work.

        A valid solution is remembered under its challenge's signature (unique per challenge) until
        the challenge expires.
        """
        if len(encoded) > MAX_PAYLOAD_CHARS:
            return Checked(Verdict.INVALID)
        try:
            payload = Payload.from_base64(encoded)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return Checked(Verdict.INVALID)
        signature = payload.challenge.signature
        expires_at = payload.challenge.parameters.expires_at
        # Every challenge made here is signed and expires; a payload without either was not made here.
        if not isinstance(signature, str) or not signature or type(expires_at) is not int:
            return Checked(Verdict.INVALID)
        try:
            result = verify_solution(payload, self._secret)
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError):
            return Checked(Verdict.INVALID)
        if result.expired:
            return Checked(Verdict.EXPIRED)
        if not result.verified:
            return Checked(Verdict.INVALID)
        ttl = max(1, math.ceil(expires_at - self._clock()) + 1)
        return Checked(Verdict.VALID, replay_key=f"altcha:{signature}", ttl_seconds=ttl)
