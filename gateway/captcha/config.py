"""The CAPTCHA providers, their siteverify endpoints, and `METHOD /path` rules (`CAPTCHA_ROUTES`).

Imports nothing of the gateway: its settings module builds on these.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr

from shared.settings import persisted_dev_secret

logger = logging.getLogger("shared.settings")


class CaptchaProvider(StrEnum):
    OFF = "off"
    ALTCHA = "altcha"  # self-hosted proof of work: challenges and verification stay in the gateway
    TURNSTILE = "turnstile"
    HCAPTCHA = "hcaptcha"
    RECAPTCHA = "recaptcha"

    @property
    def external(self) -> bool:
        """A hosted service: its widget makes the token, its siteverify endpoint checks it."""
        return self not in (CaptchaProvider.OFF, CaptchaProvider.ALTCHA)


# Each hosted provider's documented siteverify endpoint; CAPTCHA_SITEVERIFY_URL overrides.
SITEVERIFY_URLS: dict[CaptchaProvider, str] = {
    CaptchaProvider.TURNSTILE: "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    CaptchaProvider.HCAPTCHA: "https://api.hcaptcha.com/siteverify",
    CaptchaProvider.RECAPTCHA: "https://www.google.com/recaptcha/api/siteverify",
}
# How long a provider's token can be valid (Turnstile 300 s, reCAPTCHA 120 s, hCaptcha "short"):
# a spent token is remembered this long, after which the provider refuses it anyway.
TOKEN_LIFETIME_SECONDS: dict[CaptchaProvider, int] = {
    CaptchaProvider.TURNSTILE: 300,
    CaptchaProvider.HCAPTCHA: 300,
    CaptchaProvider.RECAPTCHA: 120,
}

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})
# A path of plain segments, where `{name}` stands for any one segment.
_PATH = re.compile(r"^(/([A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\}))+/?$")
_SEGMENT_PARAMETER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def parse_route(entry: str) -> str:
    """`post  /api/v1/orders/` -> `POST /api/v1/orders`; ValueError for anything else."""
    method, _, path = entry.strip().partition(" ")
    method, path = method.upper(), path.strip()
    if method not in _METHODS or not _PATH.fullmatch(path):
        raise ValueError(
            f"{entry!r} is not `METHOD /path` (a method among {', '.join(sorted(_METHODS))}, "
            "a path whose `{name}` segments match any one segment)"
        )
    return f"{method} {path.rstrip('/')}"


@dataclass(frozen=True)
class RouteRule:
    method: str
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, entry: str) -> RouteRule:
        method, path = parse_route(entry).split(" ", 1)
        literal_parts = _SEGMENT_PARAMETER.split(path)
        regex = "[^/]+".join(re.escape(part) for part in literal_parts)
        return cls(method, re.compile(f"^{regex}/?$"))

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and self.pattern.fullmatch(path) is not None


@dataclass(frozen=True)
class RouteRules:
    """The operations that always need a solution at the gateway (`CAPTCHA_ROUTES`)."""

    rules: tuple[RouteRule, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> RouteRules:
        return cls(tuple(RouteRule.parse(entry) for entry in entries))

    def requires(self, method: str, path: str) -> bool:
        return any(rule.matches(method, path) for rule in self.rules)


def development_altcha_secret(data_dir: Path, env: str) -> SecretStr:
    """Outside production, ALTCHA's HMAC key is generated into DATA_DIR/dev-secrets like the other
    secrets (kept across restarts, so challenges survive them). External providers' secrets are
    issued by the provider and cannot be generated."""
    value = persisted_dev_secret(
        data_dir / "dev-secrets" / "captcha_secret", lambda: secrets.token_urlsafe(32)
    )
    logger.warning("settings.secret_generated", extra={"fields": {"setting": "CAPTCHA_SECRET", "env": env}})
    return SecretStr(value)
