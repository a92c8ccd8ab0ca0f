"""The gateway's CAPTCHA pieces: ALTCHA challenges and their checks, the replay guards (memory, and
a real Redis when one is installed), `CAPTCHA_ROUTES` rules, and the settings' rules."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from altcha import Challenge, Payload, create_challenge, solve_challenge
from pydantic import ValidationError
from redis.asyncio import Redis
from starlette.types import Message, Receive, Scope, Send

from devstack.stack import free_port
from gateway.captcha.altcha import ALGORITHM, AltchaChallenges
from gateway.captcha.config import SITEVERIFY_URLS, CaptchaProvider, RouteRules, parse_route
from gateway.captcha.gate import CaptchaGate
from gateway.captcha.middleware import CaptchaMiddleware
from gateway.captcha.replay import KEY_PREFIX, MemoryReplayGuard, RedisReplayGuard
from gateway.captcha.verdicts import CaptchaUnavailable, Verdict
from gateway.clients import TrustedProxies
from gateway.routing import owning_service
from gateway.settings import GatewaySettings
from shared.settings import SettingsError, load_settings

COST = 50
MAX_NUMBER = 200
TTL = 120


def new_secret() -> str:
    return "altcha-unit-" + secrets.token_urlsafe(24)


def issuer(secret: str, clock: Callable[[], float] = time.time) -> AltchaChallenges:
    return AltchaChallenges(secret, cost=COST, max_number=MAX_NUMBER, ttl_seconds=TTL, clock=clock)


def solve(challenge: dict[str, Any]) -> str:
    """What the widget does: brute-force the counter, then send challenge and solution as base64 JSON."""
    parsed = Challenge.from_dict(challenge)
    solution = solve_challenge(parsed, timeout=30)
    assert solution is not None
    return Payload(parsed, solution).to_base64()


def reencode(payload: str, change: Callable[[dict[str, Any]], None]) -> str:
    data = json.loads(base64.b64decode(payload))
    change(data)
    return base64.b64encode(json.dumps(data).encode()).decode()


# --- ALTCHA ----------------------------------------------------------------------------------------


def test_a_challenge_is_signed_expiring_and_shaped_for_the_widget() -> None:
    before = int(time.time())
    challenge = issuer(new_secret()).create()
    parameters = challenge["parameters"]
    assert set(challenge) == {"parameters", "signature"}
    assert len(challenge["signature"]) == 64
    assert parameters["algorithm"] == ALGORITHM
    assert parameters["cost"] == COST
    assert before + TTL <= parameters["expiresAt"] <= int(time.time()) + TTL
    assert len(parameters["keyPrefix"]) == 32  # half the key: one counter solves it
    assert issuer(new_secret()).create()["parameters"]["nonce"] != parameters["nonce"]


def test_a_solved_challenge_is_valid_and_remembered_until_it_expires() -> None:
    challenges = issuer(new_secret())
    challenge = challenges.create()
    payload = solve(challenge)
    counter = json.loads(base64.b64decode(payload))["solution"]["counter"]
    assert MAX_NUMBER // 2 <= counter <= MAX_NUMBER  # never trivial, never above the bound
    checked = challenges.check(payload)
    assert checked.verdict is Verdict.VALID
    assert checked.replay_key == "altcha:" + challenge["signature"]
    assert TTL - 2 <= checked.ttl_seconds <= TTL + 2


def test_challenges_signed_with_another_key_are_invalid() -> None:
    payload = solve(issuer(new_secret()).create())
    assert issuer(new_secret()).check(payload).verdict is Verdict.INVALID


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda d: d["challenge"]["parameters"].update(cost=1), id="cheaper-cost"),
        pytest.param(lambda d: d["challenge"]["parameters"].update(expiresAt=2**40), id="later-expiry"),
        pytest.param(lambda d: d["challenge"]["parameters"].update(keyPrefix="00"), id="easier-prefix"),
        pytest.param(lambda d: d["challenge"].pop("signature"), id="unsigned"),
        pytest.param(lambda d: d["solution"].update(counter=d["solution"]["counter"] + 1), id="next-counter"),
        pytest.param(lambda d: d["solution"].update(derivedKey="00" * 32), id="wrong-key"),
        pytest.param(lambda d: d["solution"].update(counter="7"), id="counter-not-a-number"),
    ],
)
def test_tampered_payloads_are_invalid(tamper: Callable[[dict[str, Any]], None]) -> None:
    challenges = issuer(new_secret())
    payload = solve(challenges.create())
    assert challenges.check(reencode(payload, tamper)).verdict is Verdict.INVALID


def test_expired_challenges_are_refused_as_expired() -> None:
    secret = new_secret()
    made_long_ago = issuer(secret, clock=lambda: time.time() - TTL - 60)
    payload = solve(made_long_ago.create())
    assert issuer(secret).check(payload).verdict is Verdict.EXPIRED


def test_a_challenge_without_expiry_is_not_one_of_ours() -> None:
    secret = new_secret()
    forever = create_challenge(ALGORITHM, COST, counter=3, hmac_secret=secret)  # signed, never expires
    assert issuer(secret).check(solve(forever.to_dict())).verdict is Verdict.INVALID


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "not base64 at all!",
        base64.b64encode(b"[]").decode(),
        base64.b64encode(b'{"challenge": 1, "solution": 2}').decode(),
        base64.b64encode(b'{"challenge": {"parameters": {}}, "solution": {}}').decode(),
        base64.b64encode(b"\xff\xfe").decode(),
        "A" * 5000,
    ],
)
def test_garbage_is_invalid(payload: str) -> None:
    assert issuer(new_secret()).check(payload).verdict is Verdict.INVALID


async def test_the_gate_accepts_a_solution_once_and_stores_nothing_for_failures() -> None:
    challenges = issuer(new_secret())
    guard = MemoryReplayGuard()
    gate = CaptchaGate(CaptchaProvider.ALTCHA, RouteRules(), guard, altcha=challenges)
    payload = solve(challenges.create())
    assert await gate.verify("forged", "192.0.2.1") is Verdict.INVALID
    assert len(guard) == 0
    assert await gate.verify(payload, "192.0.2.1") is Verdict.VALID
    assert await gate.verify(payload, "192.0.2.1") is Verdict.REUSED
    assert len(guard) == 1


# --- replay guards -----------------------------------------------------------------------------------


async def test_memory_guard_claims_once_and_forgets_after_the_ttl() -> None:
    now = [1000.0]
    guard = MemoryReplayGuard(clock=lambda: now[0])
    assert await guard.claim("a", 10)
    assert not await guard.claim("a", 10)
    assert await guard.claim("b", 100)
    now[0] += 10
    assert len(guard) == 2  # forgotten lazily, on the next claim
    assert await guard.claim("a", 10)  # expired: a new claim
    now[0] += 200
    assert await guard.claim("c", 10)
    assert len(guard) == 1


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server (skipped where none is installed: the gateway needs none by default)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    directory: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_redis_guard_claims_once_with_an_expiry(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        guard = RedisReplayGuard(redis)
        key = "unit:" + secrets.token_hex(8)
        assert await guard.claim(key, 30)
        assert not await guard.claim(key, 30)
        assert 0 < await redis.ttl(KEY_PREFIX + key) <= 30
        short = "unit:" + secrets.token_hex(8)
        assert await guard.claim(short, 1)
        await asyncio.sleep(1.2)
        assert await guard.claim(short, 1)
    finally:
        await redis.aclose()


async def test_redis_guard_fails_closed_when_redis_is_down() -> None:
    redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=1)
    try:
        with pytest.raises(CaptchaUnavailable):
            await RedisReplayGuard(redis).claim("unit:down", 30)
    finally:
        await redis.aclose()


# --- CAPTCHA_ROUTES ------------------------------------------------------------------------------------


def test_route_rules_match_method_and_path() -> None:
    rules = RouteRules.parse(["post /api/v1/orders/", "POST /api/v1/orders/{order_id}/cancel"])
    assert rules.requires("POST", "/api/v1/orders")
    assert rules.requires("POST", "/api/v1/orders/")
    assert rules.requires("POST", "/api/v1/orders/665f/cancel")
    assert not rules.requires("GET", "/api/v1/orders")
    assert not rules.requires("POST", "/api/v1/orders/665f")
    assert not rules.requires("POST", "/api/v1/orders/a/b/cancel")
    assert not rules.requires("POST", "/api/v1/ordersx")


@pytest.mark.parametrize(
    "entry", ["/api/v1/orders", "FETCH /api/v1/orders", "POST api/v1/x", "POST /a/*", "POST /a b", "POST"]
)
def test_malformed_routes_are_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="METHOD /path"):
        parse_route(entry)


def test_the_challenge_path_belongs_to_no_service() -> None:
    assert owning_service("/api/v1/captcha") is None


# --- settings ----------------------------------------------------------------------------------------

STRONG_TOKEN = "internal-" + secrets.token_urlsafe(32)


def gateway_settings(tmp_path: Path, **values: Any) -> GatewaySettings:
    kwargs: dict[str, Any] = {"_env_file": None, "env": "test", "internal_token": STRONG_TOKEN, **values}
    return GatewaySettings(data_dir=tmp_path, **kwargs)


def test_off_by_default_outside_production(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path)
    assert settings.effective_captcha_provider is CaptchaProvider.OFF
    assert settings.captcha_secret is None


def test_altcha_outside_production_generates_and_keeps_its_key(tmp_path: Path) -> None:
    first = gateway_settings(tmp_path, captcha_provider="altcha")
    again = gateway_settings(tmp_path, captcha_provider="altcha")
    assert first.captcha_secret is not None
    assert again.captcha_secret is not None
    assert first.captcha_secret.get_secret_value() == again.captcha_secret.get_secret_value()
    assert (tmp_path / "dev-secrets" / "captcha_secret").exists()


def test_hosted_providers_need_their_secret_everywhere(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="CAPTCHA_SECRET"):
        gateway_settings(tmp_path, captcha_provider="turnstile")


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha", "recaptcha"])
def test_siteverify_defaults_to_the_providers_endpoint(tmp_path: Path, provider: str) -> None:
    secret = "siteverify-" + secrets.token_hex(16)  # pragma: allowlist secret
    settings = gateway_settings(tmp_path, captcha_provider=provider, captcha_secret=secret)
    assert settings.effective_siteverify_url == SITEVERIFY_URLS[CaptchaProvider(provider)]
    local = "http://127.0.0.1:9/siteverify"
    overridden = gateway_settings(
        tmp_path, captcha_provider=provider, captcha_secret=secret, captcha_siteverify_url=local
    )
    assert overridden.effective_siteverify_url == local


def test_routes_and_hostnames_come_comma_separated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAPTCHA_ROUTES", "post /api/v1/orders, GET /api/v1/products/{id}/")
    monkeypatch.setenv("CAPTCHA_HOSTNAMES", "shop.example, www.shop.example")
    settings = gateway_settings(tmp_path)
    assert settings.captcha_routes == ("POST /api/v1/orders", "GET /api/v1/products/{id}")
    assert settings.captcha_hostnames == ("shop.example", "www.shop.example")
    monkeypatch.setenv("CAPTCHA_ROUTES", "/api/v1/orders")
    with pytest.raises(ValidationError, match="METHOD /path"):
        gateway_settings(tmp_path)


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("INTERNAL_TOKEN", "SECRETS_DIR", "CAPTCHA_PROVIDER", "CAPTCHA_SECRET", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ENV", "production")


@pytest.mark.usefixtures("production")
def test_production_defaults_to_altcha_and_names_its_missing_key_with_the_others() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(GatewaySettings)
    assert "INTERNAL_TOKEN is missing" in str(caught.value)
    assert "CAPTCHA_SECRET is missing (CAPTCHA_PROVIDER=altcha needs it)" in str(caught.value)


@pytest.mark.usefixtures("production")
def test_production_checks_the_key_strength_and_never_echoes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG_TOKEN)
    weak = "short-" + "altcha-key"
    monkeypatch.setenv("CAPTCHA_SECRET", weak)
    with pytest.raises(SettingsError) as caught:
        load_settings(GatewaySettings)
    assert "CAPTCHA_SECRET is shorter than 32 characters" in str(caught.value)
    assert weak not in str(caught.value)
    strong = "altcha-" + secrets.token_urlsafe(32)
    monkeypatch.setenv("CAPTCHA_SECRET", strong)
    assert load_settings(GatewaySettings).effective_captcha_provider is CaptchaProvider.ALTCHA


@pytest.mark.usefixtures("production")
def test_production_without_captcha_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERNAL_TOKEN", STRONG_TOKEN)
    monkeypatch.setenv("CAPTCHA_PROVIDER", "off")
    settings = load_settings(GatewaySettings)
    assert settings.effective_captcha_provider is CaptchaProvider.OFF
    assert settings.captcha_secret is None


# --- the middleware's decisions --------------------------------------------------------------------------


class Recorder:
    """The app behind the middleware: records whether it was reached, and the request state."""

    def __init__(self) -> None:
        self.reached = False
        self.state: dict[str, Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.reached = True
        self.state = dict(scope.get("state", {}))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def run_middleware(
    state: SimpleNamespace, method: str, path: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> tuple[Recorder, int, dict[str, Any] | None]:
    recorder = Recorder()
    middleware = CaptchaMiddleware(recorder, TrustedProxies())
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": list(headers),
        "client": ("192.0.2.10", 5000),
        "app": SimpleNamespace(state=state),
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await middleware(scope, receive, send)
    status = sent[0]["status"]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return recorder, status, json.loads(body) if body else None


def altcha_state(routes: list[str]) -> tuple[SimpleNamespace, AltchaChallenges]:
    challenges = issuer(new_secret())
    gate = CaptchaGate(
        CaptchaProvider.ALTCHA, RouteRules.parse(routes), MemoryReplayGuard(), altcha=challenges
    )
    return SimpleNamespace(captcha=gate), challenges


async def test_middleware_refuses_a_missing_solution_only_where_required() -> None:
    state, _ = altcha_state(["POST /api/v1/orders"])
    recorder, status, body = await run_middleware(state, "POST", "/api/v1/orders")
    assert (recorder.reached, status) == (False, 428)
    assert body is not None
    assert body["reason"] == "missing"
    recorder, status, _ = await run_middleware(state, "POST", "/api/v1/auth/login")
    assert (recorder.reached, status) == (True, 204)  # auth decides there
    assert "captcha_verified" not in recorder.state


async def test_middleware_marks_a_valid_solution_and_refuses_doubled_headers() -> None:
    state, challenges = altcha_state([])
    payload = solve(challenges.create()).encode()
    doubled = [(b"x-captcha-response", payload), (b"x-captcha-response", payload)]
    recorder, status, body = await run_middleware(state, "POST", "/api/v1/auth/login", doubled)
    assert (recorder.reached, status) == (False, 428)
    assert body is not None
    assert body["reason"] == "invalid"
    recorder, status, _ = await run_middleware(state, "POST", "/api/v1/auth/login", doubled[:1])
    assert (recorder.reached, status) == (True, 204)
    assert recorder.state["captcha_verified"] is True


async def test_middleware_ignores_solutions_on_the_gateways_own_routes() -> None:
    state, _ = altcha_state([])
    recorder, status, _ = await run_middleware(state, "GET", "/health", [(b"x-captcha-response", b"junk")])
    assert (recorder.reached, status) == (True, 204)


async def test_middleware_fails_closed_when_configured_but_not_built(tmp_path: Path) -> None:
    state = SimpleNamespace(settings=gateway_settings(tmp_path, captcha_provider="altcha"))
    recorder, status, body = await run_middleware(state, "POST", "/api/v1/auth/login")
    assert (recorder.reached, status) == (False, 503)
    assert body is not None
    assert body["type"] == "/problems/captcha-unavailable"
    recorder, status, _ = await run_middleware(state, "GET", "/health")
    assert recorder.reached
    off = SimpleNamespace(settings=gateway_settings(tmp_path))
    recorder, status, _ = await run_middleware(off, "POST", "/api/v1/auth/login")
    assert recorder.reached
