"""The configured CAPTCHA, built at start-up into `app.state.captcha`: which routes need a solution,
how a solution is checked, and where spent ones are remembered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

from gateway.captcha.altcha import AltchaChallenges
from gateway.captcha.config import CaptchaProvider, RouteRules
from gateway.captcha.replay import MemoryReplayGuard, RedisReplayGuard, ReplayGuard
from gateway.captcha.siteverify import SiteVerifier
from gateway.captcha.verdicts import Verdict
from gateway.settings import GatewaySettings
from shared.logging import log_event

logger = logging.getLogger("gateway.captcha")


@dataclass(frozen=True)
class CaptchaGate:
    provider: CaptchaProvider
    routes: RouteRules
    replay: ReplayGuard
    altcha: AltchaChallenges | None = None
    siteverify: SiteVerifier | None = None

    @property
    def enabled(self) -> bool:
        return self.provider is not CaptchaProvider.OFF

    async def verify(self, response: str, remote_ip: str) -> Verdict:
        """Check one `X-Captcha-Response` and claim it: VALID exactly once per solution.

        Raises CaptchaUnavailable when the provider or the replay store cannot be asked.
        """
        if self.altcha is not None:
            checked = await asyncio.to_thread(self.altcha.check, response)
        elif self.siteverify is not None:
            checked = await self.siteverify.check(response, remote_ip)
        else:
            return Verdict.INVALID
        if checked.verdict is not Verdict.VALID:
            return checked.verdict
        # Claimed only once verified, so forged payloads (free to make) never fill the store.
        if not await self.replay.claim(checked.replay_key, checked.ttl_seconds):
            return Verdict.REUSED
        return Verdict.VALID


def build_gate(
    settings: GatewaySettings, replay: ReplayGuard, client: httpx.AsyncClient | None = None
) -> CaptchaGate:
    """The gate for `settings`; an external provider needs `client` (for siteverify)."""
    provider = settings.effective_captcha_provider
    routes = RouteRules.parse(settings.captcha_routes)
    secret = settings.captcha_secret.get_secret_value() if settings.captcha_secret else ""
    if provider is CaptchaProvider.ALTCHA:
        altcha = AltchaChallenges(
            secret,
            cost=settings.altcha_cost,
            max_number=settings.altcha_max_number,
            ttl_seconds=settings.altcha_challenge_ttl_seconds,
        )
        return CaptchaGate(provider, routes, replay, altcha=altcha)
    if provider.external:
        if client is None:
            raise ValueError(f"CAPTCHA_PROVIDER={provider} needs an HTTP client for siteverify")
        verifier = SiteVerifier(
            client, provider, settings.effective_siteverify_url, secret, settings.captcha_hostnames
        )
        return CaptchaGate(provider, routes, replay, siteverify=verifier)
    return CaptchaGate(provider, RouteRules(), replay)


@asynccontextmanager
async def captcha_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build `app.state.captcha`; enter after the Redis lifespan (spent solutions go to Redis if set)."""
    settings: GatewaySettings = app.state.settings
    redis = getattr(app.state, "redis", None)
    replay: ReplayGuard = RedisReplayGuard(redis) if redis is not None else MemoryReplayGuard()
    provider = settings.effective_captcha_provider
    timeout = httpx.Timeout(settings.captcha_verify_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, trust_env=False, follow_redirects=False) as client:
        app.state.captcha = build_gate(settings, replay, client)
        if provider is not CaptchaProvider.OFF:
            log_event(
                logger,
                "captcha.configured",
                provider=provider,
                routes=list(settings.captcha_routes),
                replay_store="redis" if redis is not None else "memory",
            )
        yield
