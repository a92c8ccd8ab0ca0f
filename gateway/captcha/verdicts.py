"""What a check of `X-Captcha-Response` concludes, and the problems the gateway answers with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.errors import AppError, CaptchaRequired

CAPTCHA_RESPONSE_HEADER = "X-Captcha-Response"


class Verdict(StrEnum):
    VALID = "valid"
    MISSING = "missing"
    INVALID = "invalid"  # malformed, forged, tampered with, not solved, or refused by the provider
    EXPIRED = "expired"
    REUSED = "reused"


_DETAILS: dict[Verdict, str] = {
    Verdict.MISSING: f"This operation needs a CAPTCHA solution in the {CAPTCHA_RESPONSE_HEADER} header.",
    Verdict.INVALID: "The CAPTCHA solution is not valid; solve a new CAPTCHA.",
    Verdict.EXPIRED: "The CAPTCHA has expired; solve a new one.",
    Verdict.REUSED: "This CAPTCHA solution was already used (each is accepted once); solve a new one.",
}


@dataclass(frozen=True)
class Checked:
    """A check's verdict; for a valid solution, the key it is remembered under and for how long."""

    verdict: Verdict
    replay_key: str = ""
    ttl_seconds: int = 0


def captcha_refused(verdict: Verdict) -> CaptchaRequired:
    """428 `/problems/captcha-required`, with `reason` (missing, invalid, expired, reused) for the SPA."""
    return CaptchaRequired(_DETAILS[verdict], reason=verdict.value)


class CaptchaUnavailable(AppError):
    """The solution could not be checked (provider or replay store unreachable): fail closed."""

    status, slug, title = 503, "captcha-unavailable", "CAPTCHA verification unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The CAPTCHA solution could not be verified right now; try again shortly.",
            headers={"Retry-After": "5"},
        )
