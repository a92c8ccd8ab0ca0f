"""A webhook whose signature does not verify is refused and counted by provider
(`webhook_verification_failures_total`), on a payment service with Stripe enabled behind a gateway
of its own (the main stack's services serve everything else). No call reaches Stripe: verification
fails first."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.stack import Stack
from tests.conftest import stack_settings
from tests.observability.scrape import moved, scrape
from tests.payment.stripe_support import SECRET_KEY, WEBHOOK_PATH, WEBHOOK_SECRET

STRIPE_ENV = {
    "PAYMENT_PROVIDERS": "sandbox,stripe",
    "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called here
    "STRIPE_SECRET_KEY": SECRET_KEY,
    "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "RECONCILE_EVERY_SECONDS": "3600",
}


@pytest.fixture(scope="module")
def stripe_payments(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root: Path = tmp_path_factory.mktemp("stripe-webhooks")
    extra = Stack(stack_settings(root / "data"), log_dir=root / "logs")
    extra.child_env = {**stack.child_env, "DATA_DIR": str(stack.settings.data_dir)}
    try:
        extra.start_app("payment", env=STRIPE_ENV)
        upstreams = {f"{name.upper()}_SERVICE_URL": stack.url_of(name) for name in ("auth", "catalog")}
        upstreams["ORDER_SERVICE_URL"] = stack.url_of("order")
        extra.start_app("gateway", env={**upstreams, "PAYMENT_SERVICE_URL": extra.url_of("payment")})
        yield extra
    finally:
        extra.stop()


async def test_a_forged_stripe_webhook_is_refused_and_counted(stripe_payments: Stack) -> None:
    metrics = f"{stripe_payments.url_of('payment')}/metrics"
    before = await scrape(metrics)
    forged = f"t={int(time.time())},v1={'0' * 64}"
    async with httpx.AsyncClient(base_url=stripe_payments.gateway_url, timeout=30) as gateway:
        refused = await gateway.post(
            WEBHOOK_PATH,
            content=b'{"id": "evt_forged", "type": "payment_intent.succeeded"}',
            headers={"Stripe-Signature": forged, "Content-Type": "application/json"},
        )
    assert refused.status_code == 400, refused.text
    after = await scrape(metrics)
    assert moved(before, after, "webhook_verification_failures_total", provider="stripe") == 1
    assert moved(before, after, "webhook_verification_failures_total", provider="nagad") == 0
