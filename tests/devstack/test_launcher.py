"""`make run`'s launcher: data survives a restart, and SIGTERM stops every process it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

import pytest
from pymongo import MongoClient

from devstack.__main__ import local_defaults
from devstack.stack import SERVICES, Stack, StackSettings, port_is_free
from tests.conftest import stack_settings

embedded_only = pytest.mark.skipif(
    bool(os.environ.get("MONGODB_URL")), reason="exercises the embedded database, not MONGODB_URL"
)


@embedded_only
def test_embedded_data_survives_a_restart(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data", mongodb_url=None)
    for attempt in ("write", "read"):
        stack = Stack(settings, log_dir=tmp_path / "logs")
        stack.start_embedded_db()
        try:
            with MongoClient[dict[str, object]](stack.mongodb_url) as client:
                if attempt == "write":
                    client.shop.kept.insert_one({"_id": "kept", "value": 42})
                else:
                    assert client.shop.kept.find_one({"_id": "kept"}) == {"_id": "kept", "value": 42}
        finally:
            stack.stop()
    assert port_is_free("127.0.0.1", settings.embedded_mongodb_port)


@embedded_only
def test_sigterm_stops_the_whole_stack(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data", mongodb_url=None)
    ports = {name: settings.port_of(name) for name in ["gateway", *SERVICES]}
    log = (tmp_path / "run.log").open("wb")
    launcher = start_launcher(settings, log, cwd=tmp_path)
    try:
        health = wait_for_health(f"http://127.0.0.1:{ports['gateway']}/health", launcher)
        assert set(health["services"]) == set(SERVICES)
        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0
    finally:
        if launcher.poll() is None:
            launcher.kill()
        log.close()
    every_port = [*ports.values(), settings.embedded_mongodb_port]
    assert all(port_is_free("127.0.0.1", port) for port in every_port), (tmp_path / "run.log").read_text()
    assert "stack: stopped" in (tmp_path / "run.log").read_text()


def start_launcher(settings: StackSettings, log: IO[bytes], cwd: Path) -> subprocess.Popen[bytes]:
    """`python -m devstack` (what `make run` runs) on the ports and data directory of `settings`."""
    env = {
        **os.environ,
        "ENV": "test",
        "DATA_DIR": str(settings.data_dir),
        "EMBEDDED_MONGODB_PORT": str(settings.embedded_mongodb_port),
        **{f"{name.upper()}_PORT": str(settings.port_of(name)) for name in ["gateway", *SERVICES]},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "devstack"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=cwd
    )


def wait_for_health(url: str, launcher: subprocess.Popen[bytes], timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert launcher.poll() is None, "the launcher exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a local http URL
                body: dict[str, Any] = json.load(response)
                return body
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout}s")


def test_make_run_offers_the_sandbox_unless_told_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PAYMENT_PROVIDERS", raising=False)
    assert local_defaults() == {"PAYMENT_PROVIDERS": "sandbox"}
    (tmp_path / ".env").write_text("PAYMENT_PROVIDERS=stripe\n")
    assert local_defaults() == {}
    (tmp_path / ".env").write_text("PAYMENT_PROVIDERS=\n")  # blank counts as unset, as in the services
    assert local_defaults() == {"PAYMENT_PROVIDERS": "sandbox"}
    monkeypatch.setenv("PAYMENT_PROVIDERS", "nagad")
    assert local_defaults() == {}
