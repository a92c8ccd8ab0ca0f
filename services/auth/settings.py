"""Settings of the auth service."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import EmailStr, Field, SecretStr, model_validator

from shared.settings import CommonSettings, settings_or_exit


def generate_signing_key_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


class AuthSettings(CommonSettings):
    service_name: ClassVar[str] = "auth"
    optional_secrets: ClassVar[frozenset[str]] = frozenset({"bootstrap_admin_password"})

    # PEM (PKCS#8) Ed25519 private key that signs access tokens; held by this service alone.
    jwt_signing_key: SecretStr | None = None
    # Public keys (PEM, concatenated) published in the JWKS beside the signing key's: the next key
    # during a rotation, and the previous one until the tokens it signed have expired.
    jwt_additional_public_keys: str = ""
    # Key of the HMAC under which refresh tokens are stored: a leaked table alone cannot be replayed.
    jwt_refresh_secret: SecretStr | None = None

    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    # A refresh token unused this long dies (idle); a family (one login) dies this long after login.
    refresh_token_idle_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=300)
    refresh_token_absolute_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=300)
    # A refresh token spent this recently may be presented again (two tabs refreshing at once)
    # without being treated as theft; beyond it, reuse revokes the whole family.
    refresh_reuse_grace_seconds: float = Field(default=10.0, ge=0, le=120)
    refresh_cookie_name: str = "refresh_token"
    refresh_cookie_path: str = "/api/v1/auth"
    # Browsers treat http://localhost as secure, so this stays on in development too.
    refresh_cookie_secure: bool = True

    # Brute-force defences (services/auth/login_attempts/): failures are counted per account and per
    # client (an IPv4 address, an IPv6 /64) and forgotten this long after the last one.
    login_failure_window_seconds: int = Field(default=900, ge=60)
    # Failures after which every attempt needs a CAPTCHA solution (0: never); no failure count ever
    # stops the right password that comes with one.
    login_captcha_after_failures: int = Field(default=3, ge=0)
    login_ip_captcha_after_failures: int = Field(default=10, ge=0)
    # Failures after which each further *wrong* attempt is answered late: LOGIN_DELAY_BASE_SECONDS,
    # doubling with every failure up to LOGIN_DELAY_MAX_SECONDS (0 turns delays off). The right
    # password is never delayed.
    login_delay_after_failures: int = Field(default=3, ge=0)
    login_ip_delay_after_failures: int = Field(default=10, ge=0)
    login_delay_base_seconds: float = Field(default=0.5, ge=0, le=10)
    login_delay_max_seconds: float = Field(default=4.0, ge=0, le=10)
    # off | altcha | turnstile | hcaptcha | recaptcha. The gateway verifies solutions; the auth
    # service only decides when one is required. `off` disables every CAPTCHA demand.
    # Unset: altcha with registration protected in production, off elsewhere (the API contract).
    captcha_provider: str = Field(default="off", pattern="^(off|altcha|turnstile|hcaptcha|recaptcha)$")
    captcha_on_register: bool = False

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_cost_kib: int = Field(default=65536, ge=19456)
    argon2_parallelism: int = Field(default=4, ge=1)
    # Hashes running at once; each holds argon2_memory_cost_kib of memory.
    password_hash_concurrency: int = Field(default=4, ge=1)

    bootstrap_admin_email: EmailStr | None = None
    bootstrap_admin_password: SecretStr | None = None

    @staticmethod
    def generate_secret(name: str) -> str:
        if name == "jwt_signing_key":
            return generate_signing_key_pem()
        return CommonSettings.generate_secret(name)

    @model_validator(mode="after")
    def _production_captcha_defaults(self) -> Self:
        if self.is_production:
            if "captcha_provider" not in self.model_fields_set:
                self.captcha_provider = "altcha"
            if "captcha_on_register" not in self.model_fields_set:
                self.captcha_on_register = True
        return self

    @classmethod
    def secret_format_problem(cls, name: str, value: str) -> str | None:
        if name != "jwt_signing_key":
            return None
        try:
            key = serialization.load_pem_private_key(value.encode(), password=None)
        except (ValueError, TypeError):
            return "is not a PEM private key (make one with: openssl genpkey -algorithm ed25519)"
        if not isinstance(key, Ed25519PrivateKey):
            return "is not an Ed25519 key (make one with: openssl genpkey -algorithm ed25519)"
        return None

    @property
    def captcha_enabled(self) -> bool:
        return self.captcha_provider != "off"


@lru_cache
def get_settings() -> AuthSettings:
    return settings_or_exit(AuthSettings)
