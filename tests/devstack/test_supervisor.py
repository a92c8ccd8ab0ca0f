"""The launcher's supervisor: a crashed process comes back (the database on its own storage), with
back-off, logged and reported in the status file; a database that cannot come back stops the stack."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pymongo import MongoClient

from devstack.stack import EMBEDDED_DB, Stack, http_ready
from devstack.supervisor import Supervisor, SupervisorGaveUp, supervised
from shared.launcher_status import read_restarts, status_path
from tests.conftest import stack_settings
from tests.devstack.test_launcher import embedded_only, start_launcher, wait_for_health

WAIT_SECONDS = 60.0


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:.0f}s"
        time.sleep(0.05)


def kill_hard(stack: Stack, name: str) -> None:
    process = stack.processes[name].popen
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.fixture
def small_stack(tmp_path: Path) -> Iterator[Stack]:
    """The embedded database, auth (whose keys the others need to be ready) and catalog."""
    settings = stack_settings(tmp_path / "data", mongodb_url=None)
    stack = Stack(settings, env={"ENV": "test"}, log_dir=tmp_path / "logs")
    try:
        stack.start_embedded_db()
        stack.start_app("auth")
        stack.start_app("catalog")
        yield stack
    finally:
        stack.stop()


def test_backoff_doubles_up_to_the_maximum(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path, restart_backoff_initial_seconds=0.5, restart_backoff_max_seconds=10)
    stack = Stack(settings)
    delays = [Supervisor(stack).backoff_seconds(attempt) for attempt in range(1, 9)]
    assert delays == [0.5, 1, 2, 4, 8, 10, 10, 10]


@embedded_only
def test_a_killed_service_is_restarted_and_reported(
    small_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devstack")
    ready_url = f"{small_stack.url_of('catalog')}/health/ready"
    with supervised(small_stack, interval=0.05) as supervisor:
        wait_until(lambda: status_path(small_stack.settings.data_dir).exists(), "the first status file")
        killed_pid = small_stack.processes["catalog"].popen.pid
        kill_hard(small_stack, "catalog")
        wait_until(lambda: supervisor.restarts_of("catalog") == 1, "catalog's restart")
        wait_until(lambda: http_ready(ready_url), "catalog's readiness after its restart")
        assert supervisor.failure is None
    assert small_stack.processes["catalog"].popen.pid != killed_pid
    assert read_restarts(small_stack.settings.data_dir) == {EMBEDDED_DB: 0, "auth": 0, "catalog": 1}
    restarted = [r for r in caplog.records if r.getMessage() == "devstack.restarted"]
    assert [getattr(r, "fields", None) for r in restarted] == [
        {"name": "catalog", "exit_code": -signal.SIGKILL, "attempt": 1}
    ]


@embedded_only
def test_a_killed_database_comes_back_on_its_own_storage(small_stack: Stack) -> None:
    with MongoClient[dict[str, object]](small_stack.mongodb_url, w="majority") as client:
        client.shop.kept.insert_one({"_id": "before-the-kill"})
    with supervised(small_stack, interval=0.05) as supervisor:
        kill_hard(small_stack, EMBEDDED_DB)
        wait_until(lambda: supervisor.restarts_of(EMBEDDED_DB) == 1, "the database's restart")
        with MongoClient[dict[str, object]](small_stack.mongodb_url, serverSelectionTimeoutMS=10_000) as db:
            assert db.shop.kept.find_one({"_id": "before-the-kill"}) is not None
        # The service rode out the outage: it reconnects by itself, no restart needed.
        wait_until(lambda: http_ready(f"{small_stack.url_of('catalog')}/health/ready"), "catalog's readiness")
        assert supervisor.restarts_of("catalog") == 0
        assert supervisor.failure is None


class ManualClock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


@embedded_only
def test_a_database_that_cannot_come_back_gives_up(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "data", mongodb_url=None, db_restart_attempts=2)
    stack = Stack(settings, log_dir=tmp_path / "logs")
    clock = ManualClock()
    supervisor = Supervisor(stack, clock=clock)  # polled by hand: no race with the port taken below
    stack.start_embedded_db()
    try:
        kill_hard(stack, EMBEDDED_DB)
        # Another program takes the port (past the killed server's TIME_WAITs): every restart fails.
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((settings.host, settings.embedded_mongodb_port))
            squatter.listen()
            outcomes: list[str] = []
            for _ in range(6):
                clock.now += settings.restart_backoff_max_seconds
                try:
                    supervisor.poll_once()
                except SupervisorGaveUp as exc:
                    outcomes.append(str(exc))
                    break
        assert len(outcomes) == 1
        assert "did not come back after 2 restarts" in outcomes[0]
        assert supervisor.restarts_of(EMBEDDED_DB) == 2
    finally:
        stack.stop()


@embedded_only
def test_make_run_restarts_a_killed_service(tmp_path: Path) -> None:
    """`python -m devstack` itself: kill -9 the order service, the gateway's health recovers."""
    settings = stack_settings(tmp_path / "data", mongodb_url=None)
    output = tmp_path / "run.log"
    with output.open("wb") as log:
        launcher = start_launcher(settings, log, cwd=tmp_path)
        try:
            health_url = f"http://{settings.host}:{settings.gateway_port}/health"
            wait_for_health(health_url, launcher)
            wait_until(lambda: read_restarts(settings.data_dir) is not None, "the launcher's status file")
            order_pid = json.loads(status_path(settings.data_dir).read_text())["processes"]["order"]["pid"]
            os.kill(order_pid, signal.SIGKILL)
            wait_until(lambda: (read_restarts(settings.data_dir) or {}).get("order") == 1, "order's restart")
            health = wait_for_health(health_url, launcher)
            assert health["services"]["order"] == "ready"
            assert health["restarts"]["order"] == 1  # the gateway's /health shows the restart
            assert launcher.poll() is None
            launcher.send_signal(signal.SIGTERM)
            assert launcher.wait(timeout=30) == 0
        finally:
            if launcher.poll() is None:
                launcher.kill()
    events = [json.loads(line) for line in output.read_text().splitlines() if line.startswith("{")]
    restarted = [event for event in events if event.get("event") == "devstack.restarted"]
    assert [(e["service"], e["name"], e["exit_code"], e["attempt"]) for e in restarted] == [
        ("devstack", "order", -signal.SIGKILL, 1)
    ]
