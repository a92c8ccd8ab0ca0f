"""Production refuses provider endpoints that are not https, sandbox hosts and test credentials of
every enabled provider (Stripe's sk_test_ keys, bKash's sandbox users), and needs NAGAD_SERVER_IP
for Nagad; Nagad's signature algorithm and server address are settings with their own rules."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr, ValidationError

from services.payment.settings import PaymentSettings


def strong() -> SecretStr:
    return SecretStr(secrets.token_urlsafe(40))


def merchant_key() -> SecretStr:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SecretStr(pem.decode())


LIVE: dict[str, Any] = {
    "payment_providers": ["stripe", "bkash", "nagad"],
    "stripe_api_base": "https://api.stripe.com",
    "stripe_secret_key": SecretStr("sk_live_" + secrets.token_hex(24)),
    "stripe_webhook_secret": SecretStr("whsec_" + secrets.token_hex(24)),
    "bkash_base_url": "https://tokenized.pay.bka.sh/v1.2.0-beta/tokenized/checkout",
    "bkash_refund_base_url": "https://tokenized.pay.bka.sh/v2/tokenized-checkout",
    "bkash_app_key": "app-" + secrets.token_hex(8),
    "bkash_username": "merchant-" + secrets.token_hex(4),
    "nagad_base_url": "https://api.mynagad.com/api/dfs",
    "nagad_merchant_id": "683000000000001",
    "nagad_public_key": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A",
    "nagad_server_ip": "203.0.113.10",
    "spa_return_url": "https://shop.example/payment-result",
}


def production(tmp_path: Path, **changes: Any) -> PaymentSettings:
    values = {
        **LIVE,
        "bkash_app_secret": strong(),
        "bkash_password": strong(),
        "nagad_merchant_private_key": merchant_key(),
        **changes,
    }
    return PaymentSettings(
        _env_file=None,
        _secrets_dir=None,
        env="production",
        data_dir=tmp_path,
        mongodb_url=f"mongodb://payment:{secrets.token_hex(16)}@db1/?replicaSet=rs0",
        internal_token=strong(),
        **values,
    )


def test_a_live_configuration_of_every_provider_starts(tmp_path: Path) -> None:
    assert production(tmp_path).enabled_providers() == ["stripe", "bkash", "nagad"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"nagad_base_url": "http://api.mynagad.com/api/dfs"}, "NAGAD_BASE_URL is not an https URL"),
        (
            {"nagad_base_url": "https://sandbox-ssl.mynagad.com:10061/remote-payment-gateway-1.0/api/dfs"},
            "NAGAD_BASE_URL points at a sandbox host (sandbox-ssl.mynagad.com)",
        ),
        ({"stripe_api_base": "http://api.stripe.com"}, "STRIPE_API_BASE is not an https URL"),
        ({"stripe_secret_key": SecretStr("sk_test_" + "4" * 40)}, "STRIPE_SECRET_KEY is a test-mode key"),
        ({"stripe_secret_key": SecretStr("rk_test_" + "4" * 40)}, "STRIPE_SECRET_KEY is a test-mode key"),
        (
            {"bkash_base_url": "https://tokenized.sandbox.bka.sh/v1.2.0-beta/tokenized/checkout"},
            "BKASH_BASE_URL points at a sandbox host (tokenized.sandbox.bka.sh)",
        ),
        ({"bkash_refund_base_url": "tokenized.pay.bka.sh/v2"}, "BKASH_REFUND_BASE_URL is not an https URL"),
        ({"bkash_username": "sandboxTokenizedUser02"}, "BKASH_USERNAME is a bKash sandbox user"),
        ({"nagad_server_ip": ""}, "NAGAD_SERVER_IP is empty"),
        ({"spa_return_url": ""}, "SPA_RETURN_URL is not an https URL"),
        ({"spa_return_url": "http://shop.example/paid"}, "SPA_RETURN_URL is not an https URL"),
    ],
)
def test_production_refuses_test_endpoints_and_credentials(
    tmp_path: Path, change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        production(tmp_path, **change)
    assert problem in str(refused.value)
    assert "sk_test_4444" not in str(refused.value)  # a key is named, never echoed


def test_a_disabled_providers_settings_are_not_judged(tmp_path: Path) -> None:
    # The defaults point at bKash's and Nagad's sandboxes: fine while only Stripe is offered.
    only_stripe = production(
        tmp_path,
        payment_providers=["stripe"],
        bkash_base_url=PaymentSettings.model_fields["bkash_base_url"].default,
        nagad_base_url=PaymentSettings.model_fields["nagad_base_url"].default,
        nagad_server_ip="",
    )
    assert only_stripe.enabled_providers() == ["stripe"]


def test_development_keeps_the_sandboxes(tmp_path: Path) -> None:
    settings = PaymentSettings(
        _env_file=None, env="test", data_dir=tmp_path, payment_providers=["nagad", "bkash"]
    )
    assert settings.nagad_base_url.startswith("http://sandbox.mynagad.com")
    assert (settings.nagad_signature_algorithm, settings.nagad_refund_request_date) == ("SHA256", "original")


@pytest.mark.parametrize("address", ["2001:db8::1", "nagad.example", "203.0.113.300"])
def test_the_nagad_server_ip_is_an_ipv4_address(tmp_path: Path, address: str) -> None:
    with pytest.raises(ValidationError):
        PaymentSettings(_env_file=None, env="test", data_dir=tmp_path, nagad_server_ip=address)


def test_the_nagad_signature_algorithm_is_sha256_or_sha1(tmp_path: Path) -> None:
    assert (
        PaymentSettings(
            _env_file=None, env="test", data_dir=tmp_path, nagad_signature_algorithm="SHA1"
        ).nagad_signature_algorithm
        == "SHA1"
    )
    with pytest.raises(ValidationError):
        PaymentSettings(_env_file=None, env="test", data_dir=tmp_path, nagad_signature_algorithm="MD5")
