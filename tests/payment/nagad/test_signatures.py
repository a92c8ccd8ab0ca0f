"""Nagad's signature hash is a setting: SHA-256 (every sample of Nagad's, the default) or SHA-1 (what
its guide v3.3 names), used both to sign what we send and to verify what Nagad signs. Against a
fake Nagad that takes one of them only, the provider configured alike pays and the other is refused."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest
from bson import ObjectId

from services.payment.providers.base import PaymentRequest, ProviderError
from tests.payment.nagad.conftest import CALLBACK_PATH, PUBLIC_BASE_URL, configure, counters


@pytest.mark.parametrize(("algorithm", "other"), [("SHA256", "SHA1"), ("SHA1", "SHA256")])
async def test_the_signature_algorithm_is_a_setting(
    fake: httpx.AsyncClient, make_provider: Any, algorithm: str, other: str
) -> None:
    await configure(fake, signature_algorithm=algorithm)
    request = PaymentRequest(
        str(ObjectId()), str(ObjectId()), 1000, "BDT", "k", PUBLIC_BASE_URL + CALLBACK_PATH, "203.0.113.9"
    )

    created = await make_provider(nagad_signature_algorithm=algorithm).create_payment(request)
    assert created.redirect_url is not None
    assert await counters(fake) == {"initialize": 1, "complete": 1}  # both answers verified

    with pytest.raises(ProviderError) as refused:
        await make_provider(nagad_signature_algorithm=other).create_payment(
            replace(request, payment_id=str(ObjectId()))
        )
    assert "SignatureVerificationFailed" in str(refused.value)
    assert not refused.value.retryable
