"""Settings of the payment service."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from ipaddress import IPv4Address
from typing import Annotated, ClassVar, Literal
from urllib.parse import urlencode, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings, settings_or_exit

ProviderName = Literal["stripe", "bkash", "nagad", "sandbox"]
# Plain settings each provider needs when it is enabled (production names every one that is empty).
PROVIDER_SETTINGS: dict[str, tuple[str, ...]] = {
    "stripe": (),
    "bkash": ("bkash_app_key", "bkash_username"),
    "nagad": ("nagad_merchant_id", "nagad_public_key", "nagad_server_ip"),
    "sandbox": (),
}
# Each provider's base URLs: production takes only https, and no sandbox host.
PROVIDER_URLS: dict[str, tuple[str, ...]] = {
    "stripe": ("stripe_api_base",),
    "bkash": ("bkash_base_url", "bkash_refund_base_url"),
    "nagad": ("nagad_base_url",),
    "sandbox": (),
}
# Stripe's test-mode secret and restricted keys (a live shop takes sk_live_/rk_live_ only).
STRIPE_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")
# Providers whose shoppers leave for the provider's page and come back through SPA_RETURN_URL
# (the sandbox only outside production, where enabled_providers never lists it).
REDIRECT_PROVIDERS = frozenset({"bkash", "nagad", "sandbox"})
# Which secrets each provider needs when it is enabled (production refuses to start without them).
PROVIDER_SECRETS: dict[str, tuple[str, ...]] = {
    "stripe": ("stripe_secret_key", "stripe_webhook_secret"),
    "bkash": ("bkash_app_secret", "bkash_password"),
    "nagad": ("nagad_merchant_private_key",),
    "sandbox": (),
}


class PaymentSettings(CommonSettings):
    service_name: ClassVar[str] = "payment"
    optional_secrets: ClassVar[frozenset[str]] = frozenset(
        name for names in PROVIDER_SECRETS.values() for name in names
    )

    # Providers offered to shoppers, as a comma-separated list: PAYMENT_PROVIDERS=sandbox,stripe.
    # None by default: the sandbox settles payments without money, so it runs only where it is named
    # (local stacks, tests), and production refuses it whatever this says.
    payment_providers: Annotated[list[ProviderName], NoDecode] = Field(default_factory=list)
    # Provider payments one order may start (failed ones included): each is a provider call, so an
    # order cannot be used to flood a provider. A new attempt with the provider of a pending payment
    # reuses that payment and does not count.
    payment_max_attempts_per_order: int = Field(default=5, ge=1, le=100)
    # Where the gateway is reachable by browsers and providers (callback URLs, the sandbox's page).
    # The local stack sets it to its own gateway's address unless it is given.
    public_base_url: str = "http://127.0.0.1:8000"
    # Where the shopper's browser lands after paying with a redirect provider (bKash, Nagad, the
    # sandbox): the SPA's result page, given `?payment_id=...&status=...`, which then reads the payment.
    # Empty: the shop's own plain result page (GET /api/v1/payments/return), for development without
    # an SPA. Production needs it once bKash or Nagad is enabled.
    spa_return_url: str = Field(default="", max_length=2000)
    # Timeout of one provider call, and how often a failed call is retried (idempotently).
    # Kept below the gateway's upstream read timeout even with retries, so the shopper gets our answer.
    provider_timeout_seconds: float = Field(default=8.0, gt=0)
    provider_max_retries: int = Field(default=1, ge=0, le=5)
    # Reconciliation: payments pending longer than this are asked about at the provider.
    reconcile_after_seconds: int = Field(default=600, ge=1)
    reconcile_every_seconds: float = Field(default=60.0, gt=0)
    reconcile_batch_size: int = Field(default=100, ge=1)

    stripe_api_base: str = "https://api.stripe.com"
    stripe_secret_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # Webhook signatures older than this are refused (replay protection), as Stripe's libraries do.
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)

    bkash_base_url: str = "https://tokenized.sandbox.bka.sh/v1.2.0-beta/tokenized/checkout"
    bkash_refund_base_url: str = "https://tokenized.sandbox.bka.sh/v2/tokenized-checkout"
    # v2 refund calls: the Authorization header's scheme ("" = the raw token, as v1.2; or "Bearer").
    bkash_refund_auth_scheme: Literal["", "Bearer"] = ""
    bkash_app_key: str = ""
    bkash_app_secret: SecretStr | None = None
    bkash_username: str = ""
    bkash_password: SecretStr | None = None
    # bKash lets a merchant renew its token only about twice an hour: with REDIS_URL set, every replica
    # shares one token, kept in Redis under this prefix (and a hash of the app key); else each process
    # keeps its own.
    bkash_redis_prefix: str = Field(default="shop:bkash-token", min_length=1, max_length=100)

    nagad_base_url: str = "http://sandbox.mynagad.com:10080/remote-payment-gateway-1.0/api/dfs"
    nagad_merchant_id: str = ""
    nagad_merchant_private_key: SecretStr | None = None
    nagad_public_key: str = ""
    # This server's public IPv4 address, the one Nagad whitelists: sent as X-KM-IP-V4 on the calls the
    # server starts itself (verify, refunds) and when the shopper's address is not IPv4. Empty outside
    # production: 127.0.0.1.
    nagad_server_ip: str = ""
    # A refund's originalRequestDate: the payment's own date ("original") or the refund's ("today");
    # Nagad's sources disagree (docs/providers.md).
    nagad_refund_request_date: Literal["original", "today"] = "original"
    # RSA signature hash, both ways: SHA256 (every sample of Nagad's) or SHA1 (what its guide names).
    nagad_signature_algorithm: Literal["SHA256", "SHA1"] = "SHA256"

    @field_validator("payment_providers", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value

    @field_validator("nagad_server_ip")
    @classmethod
    def _ipv4(cls, value: str) -> str:
        if value:
            IPv4Address(value)  # a ValueError names the setting
        return value

    def reconcile_backoff(self, attempts: int, cap_seconds: float) -> timedelta:
        """The wait before asking again after `attempts` fruitless tries: doubling, capped."""
        return timedelta(seconds=min(self.reconcile_every_seconds * 2 ** min(attempts, 32), cap_seconds))

    def enabled_providers(self) -> list[str]:
        return [name for name in self.payment_providers if not (name == "sandbox" and self.is_production)]

    def _production_problems(self) -> list[str]:
        problems = super()._production_problems()
        for provider in self.enabled_providers():
            for name in PROVIDER_SECRETS[provider]:
                if getattr(self, name) is None:
                    problems.append(f"{name.upper()} is missing (the {provider} provider is enabled)")
            for name in PROVIDER_SETTINGS[provider]:
                if not getattr(self, name):
                    problems.append(f"{name.upper()} is empty (the {provider} provider is enabled)")
            problems += self._test_endpoints(provider)
        if set(self.enabled_providers()) & REDIRECT_PROVIDERS:
            url = urlsplit(self.spa_return_url)
            if url.scheme != "https" or not url.hostname:
                problems.append("SPA_RETURN_URL is not an https URL (where shoppers return after paying)")
        return problems

    def return_url(self, payment_id: str, status: str) -> str:
        """The shopper's way back after paying: SPA_RETURN_URL (or the shop's own page) with the result."""
        base = self.spa_return_url or f"{self.public_base_url}/api/v1/payments/return"
        separator = "&" if urlsplit(base).query else "?"
        return base + separator + urlencode({"payment_id": payment_id, "status": status})

    def _test_endpoints(self, provider: str) -> list[str]:
        """Plain-http or sandbox endpoints and test credentials of an enabled provider (production)."""
        problems = []
        for name in PROVIDER_URLS[provider]:
            url = urlsplit(getattr(self, name))
            if url.scheme != "https" or not url.hostname:
                problems.append(f"{name.upper()} is not an https URL (money and keys would travel in clear)")
            elif "sandbox" in url.hostname.lower():
                problems.append(f"{name.upper()} points at a sandbox host ({url.hostname})")
        stripe_key = self.stripe_secret_key.get_secret_value() if self.stripe_secret_key else ""
        if provider == "stripe" and stripe_key.startswith(STRIPE_TEST_KEY_PREFIXES):
            problems.append("STRIPE_SECRET_KEY is a test-mode key (sk_test_/rk_test_)")
        if provider == "bkash" and "sandbox" in self.bkash_username.lower():
            problems.append("BKASH_USERNAME is a bKash sandbox user")
        return problems


@lru_cache
def get_settings() -> PaymentSettings:
    return settings_or_exit(PaymentSettings)
