"""The siteverify client against a local fake that follows the providers' protocol (real HTTP):
each provider's path, what is sent, single-use tokens, hostnames, and failing closed."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.stack import free_port
from gateway.captcha.config import CaptchaProvider
from gateway.captcha.siteverify import SiteVerifier
from gateway.captcha.verdicts import CaptchaUnavailable, Verdict
from tests.payment.conftest import fake_server

SECRET = "siteverify-unit-" + secrets.token_urlsafe(24)  # pragma: allowlist secret
PATHS = {
    CaptchaProvider.TURNSTILE: "/turnstile/v0/siteverify",
    CaptchaProvider.HCAPTCHA: "/siteverify",
    CaptchaProvider.RECAPTCHA: "/siteverify",
}


@pytest.fixture(scope="module")
def siteverify_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_dir: Path = tmp_path_factory.mktemp("siteverify-unit")
    with fake_server("tests.fakes.siteverify_server", "--secret", SECRET, log_dir=log_dir) as url:
        yield url


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=1, trust_env=False) as http:
        yield http


async def mint(client: httpx.AsyncClient, base: str, **options: Any) -> str:
    response = await client.post(f"{base}/__control/tokens", json=options)
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


async def last_request(client: httpx.AsyncClient, base: str) -> dict[str, Any]:
    received: list[dict[str, Any]] = (await client.get(f"{base}/__control/requests")).json()
    return received[-1]


def verifier(
    client: httpx.AsyncClient, base: str, provider: CaptchaProvider, secret: str = SECRET, **kw: Any
) -> SiteVerifier:
    return SiteVerifier(client, provider, base + PATHS[provider], secret, **kw)


@pytest.mark.parametrize("provider", list(PATHS))
async def test_a_token_passes_once_and_the_call_follows_the_protocol(
    client: httpx.AsyncClient, siteverify_url: str, provider: CaptchaProvider
) -> None:
    token = await mint(client, siteverify_url)
    check = verifier(client, siteverify_url, provider)
    passed = await check.check(token, "198.51.100.7")
    assert passed.verdict is Verdict.VALID
    assert passed.replay_key.startswith(f"{provider}:")
    assert token not in passed.replay_key  # only a hash of it is kept
    assert passed.ttl_seconds == (120 if provider is CaptchaProvider.RECAPTCHA else 300)
    sent = await last_request(client, siteverify_url)
    assert sent == {"path": PATHS[provider], "response": token, "remoteip": "198.51.100.7", "secret_ok": True}
    assert (await check.check(token, "198.51.100.7")).verdict is Verdict.REUSED  # timeout-or-duplicate


async def test_unknown_and_expired_tokens_fail(client: httpx.AsyncClient, siteverify_url: str) -> None:
    check = verifier(client, siteverify_url, CaptchaProvider.TURNSTILE)
    assert (await check.check("fake.not-a-token", "")).verdict is Verdict.INVALID
    assert (await check.check("", "")).verdict is Verdict.INVALID
    assert (await check.check("x" * 5000, "")).verdict is Verdict.INVALID
    short_lived = await mint(client, siteverify_url, ttl_seconds=0.2)
    await asyncio.sleep(0.3)
    assert (await check.check(short_lived, "")).verdict is Verdict.REUSED


async def test_tokens_from_other_hostnames_fail(client: httpx.AsyncClient, siteverify_url: str) -> None:
    check = verifier(client, siteverify_url, CaptchaProvider.HCAPTCHA, hostnames={"shop.example"})
    foreign = await mint(client, siteverify_url, hostname="evil.example")
    assert (await check.check(foreign, "")).verdict is Verdict.INVALID
    ours = await mint(client, siteverify_url, hostname="shop.example")
    assert (await check.check(ours, "")).verdict is Verdict.VALID


async def test_a_wrong_secret_is_our_fault_not_the_clients(
    client: httpx.AsyncClient, siteverify_url: str
) -> None:
    token = await mint(client, siteverify_url)
    wrong = verifier(client, siteverify_url, CaptchaProvider.TURNSTILE, secret="not-" + SECRET)
    with pytest.raises(CaptchaUnavailable):
        await wrong.check(token, "")


@pytest.mark.parametrize("mode", ["error", "hang"])
async def test_a_failing_provider_fails_closed(
    client: httpx.AsyncClient, siteverify_url: str, mode: str
) -> None:
    token = await mint(client, siteverify_url)
    await client.post(f"{siteverify_url}/__control/faults", json={"mode": mode, "count": 1, "seconds": 2})
    started = time.monotonic()
    with pytest.raises(CaptchaUnavailable):
        await verifier(client, siteverify_url, CaptchaProvider.TURNSTILE).check(token, "")
    assert time.monotonic() - started < 1.8  # the client's 1 s timeout, not the 2 s hang


async def test_an_unreachable_provider_fails_closed(client: httpx.AsyncClient) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/siteverify"
    check = SiteVerifier(client, CaptchaProvider.RECAPTCHA, nowhere, SECRET)
    with pytest.raises(CaptchaUnavailable):
        await check.check("fake.token", "")
