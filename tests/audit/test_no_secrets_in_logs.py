"""No password, token or key the tests use ever reaches a log line or the audit trail.

This test does the things most likely to leak (register, log in, refresh, log in wrongly, send a
forged bearer token) with values of its own, then reads every log the session stack's processes
have written so far. The session stack's teardown (tests/conftest.py) scans the logs of the whole
run again, for every secret the session used and any token of anyone's.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx

from devstack.stack import Stack
from shared.db import Database
from tests.audit.secrets_scan import known_secrets, leaks, product_logs
from tests.builders import login, register


def stack_logs(stack: Stack) -> list[Path]:
    assert stack.log_dir is not None
    return product_logs(stack.log_dir)


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    log = tmp_path / "auth.log"
    refresh = "ab" * 16 + "." + "C" * 43
    access = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ." + "c2lnbmF0dXJl" * 2  # pragma: allowlist secret
    log.write_text(
        '{"event": "ok"}\n'
        '{"event": "x", "password": "hunter2 hunter2 hunter2"}\n'  # pragma: allowlist secret
        f'{{"event": "y", "authorization": "Bearer {access}"}}\n'
        f'{{"event": "z", "token": "{refresh}"}}\n'
    )
    (tmp_path / "fake.log").write_text("sk_test_x")
    try:
        assert product_logs(tmp_path) == [log]
        found = leaks([log], {"hunter2 hunter2 hunter2"})
        assert [line.split(": ", 1)[1] for line in found] == [
            "known secret #0 (23 characters)",
            "access token",
            "refresh token",
        ]
    finally:
        log.unlink()  # planted here: the session's own scan (tests/conftest.py) must not find it


async def test_passwords_and_tokens_never_reach_the_logs_or_the_trail(
    stack: Stack, gateway: httpx.AsyncClient, db: Database
) -> None:
    password = "audit scan passphrase " + secrets.token_urlsafe(12)  # pragma: allowlist secret
    wrong = "audit scan wrong guess " + secrets.token_urlsafe(12)
    account = await register(gateway, password=password)
    tokens = await login(gateway, account.email, password)
    refreshed = await gateway.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text
    failed = await gateway.post("/api/v1/auth/login", json={"email": account.email, "password": wrong})
    assert failed.status_code == 401
    forged = tokens["access_token"][:-8] + "AAAAAAAA"
    assert (
        await gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401
    used = {
        password,
        wrong,
        tokens["access_token"],
        tokens["refresh_token"],
        refreshed.json()["access_token"],
        refreshed.json()["refresh_token"],
        forged,
        *known_secrets([stack.settings.data_dir]),
    }

    logs = stack_logs(stack)
    assert {log.name for log in logs} >= {"gateway.log", "auth.log"}
    assert leaks(logs, used) == []
    trail = json.dumps(await db.audit.find({"target.id": account.email}).to_list(), default=str)
    assert "login.failed" in trail
    assert "login.succeeded" in trail
    assert not [secret for secret in used if secret in trail]  # ...without a secret
