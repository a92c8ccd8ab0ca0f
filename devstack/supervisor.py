"""Keep the local stack running: restart whatever crashes, with back-off, and say so.

`python -m devstack` calls `Supervisor.poll_once()` in its main loop; a test runs the same loop in a
thread with `supervised(stack)`, kills a process and watches it come back. A crashed service or
gateway is restarted after RESTART_BACKOFF_INITIAL_SECONDS, doubled per further crash up to
RESTART_BACKOFF_MAX_SECONDS, forever: the others keep serving meanwhile. The embedded database is
restarted too, on the same storage; when DB_RESTART_ATTEMPTS restarts in a row do not answer, the
supervisor gives up (`SupervisorGaveUp`) and the launcher stops everything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devstack.stack import ManagedProcess, Stack, StackError
from shared.launcher_status import write_status
from shared.logging import log_event

logger = logging.getLogger("devstack")

POLL_SECONDS = 0.2


class SupervisorGaveUp(StackError):
    """The embedded database could not be brought back; the stack must stop."""


@dataclass
class Restarts:
    """One process's record: what the back-off and the status file are computed from."""

    restarts: int = 0
    # Crashes in a row, each before the process had stayed up RESTART_STABLE_SECONDS: the back-off step.
    attempt: int = 0
    # Database restarts in a row that never answered.
    failed_starts: int = 0
    last_exit_code: int | None = None
    last_restart_at: datetime | None = None
    restart_due: float | None = None  # monotonic time of the scheduled restart, while one is pending


class Supervisor:
    def __init__(self, stack: Stack, *, clock: Callable[[], float] | None = None) -> None:
        self.stack = stack
        self.clock = clock or time.monotonic
        self.records: dict[str, Restarts] = {}
        self.failure: SupervisorGaveUp | None = None
        self._status_written = False

    def restarts_of(self, name: str) -> int:
        record = self.records.get(name)
        return record.restarts if record else 0

    def backoff_seconds(self, attempt: int) -> float:
        """Delay before restart number `attempt` (1, 2, ...) of a crash streak."""
        settings = self.stack.settings
        exponent = min(attempt - 1, 30)  # 2**30 half-seconds is far past any maximum
        return float(
            min(settings.restart_backoff_initial_seconds * 2**exponent, settings.restart_backoff_max_seconds)
        )

    def poll_once(self) -> None:
        """Notice exits, restart what is due, and rewrite the status file when anything changed.

        Raises SupervisorGaveUp when the embedded database cannot be brought back.
        """
        with self.stack.lock:
            now = self.clock()
            changed = not self._status_written
            for name, process in list(self.stack.processes.items()):
                record = self.records.setdefault(name, Restarts())
                if process.running:
                    if (
                        record.attempt
                        and now - process.started_at >= self.stack.settings.restart_stable_seconds
                    ):
                        record.attempt = 0  # it stayed up: the next crash starts from the first delay
                    continue
                if record.restart_due is None:
                    self._schedule(name, process, record, now)
                    changed = True
                elif now >= record.restart_due:
                    try:
                        self._restart(name, record)
                    finally:
                        self._write_status()
            if changed:
                self._write_status()

    def run(self, stop: threading.Event, interval: float = POLL_SECONDS) -> None:
        """Poll until `stop` is set or the supervisor gives up (then `self.failure` says why)."""
        while not stop.wait(interval):
            try:
                self.poll_once()
            except SupervisorGaveUp as exc:
                self.failure = exc
                return

    def _schedule(self, name: str, process: ManagedProcess, record: Restarts, now: float) -> None:
        record.attempt += 1
        record.last_exit_code = process.popen.returncode
        delay = self.backoff_seconds(record.attempt)
        record.restart_due = now + delay
        log_event(
            logger,
            "devstack.exited",
            logging.WARNING,
            name=name,
            exit_code=record.last_exit_code,
            attempt=record.attempt,
            restart_in_seconds=delay,
        )

    def _restart(self, name: str, record: Restarts) -> None:
        record.restart_due = None
        record.restarts += 1
        record.last_restart_at = datetime.now(UTC)
        try:
            self.stack.respawn(name)
        except StackError as exc:
            # Only the database is waited for; it exited or stayed silent and was killed. The next
            # poll sees it gone and schedules another attempt with a longer delay.
            record.failed_starts += 1
            log_event(
                logger,
                "devstack.restart_failed",
                logging.ERROR,
                name=name,
                attempt=record.attempt,
                error=str(exc),
            )
            if record.failed_starts >= self.stack.settings.db_restart_attempts:
                log_event(logger, "devstack.gave_up", logging.ERROR, name=name, attempts=record.failed_starts)
                storage = self.stack.settings.data_dir / "mongodb"
                raise SupervisorGaveUp(
                    f"the embedded database did not come back after {record.failed_starts} restarts "
                    f"(last: {exc}); stopping the stack. Its data is in {storage}; see its output, "
                    "then `make run` again"
                ) from exc
            return
        record.failed_starts = 0
        log_event(
            logger,
            "devstack.restarted",
            logging.WARNING,
            name=name,
            exit_code=record.last_exit_code,
            attempt=record.attempt,
        )

    def _write_status(self) -> None:
        processes: dict[str, dict[str, Any]] = {}
        for name, process in self.stack.processes.items():
            record = self.records.get(name, Restarts())
            processes[name] = {
                "pid": process.popen.pid,
                "running": process.running,
                "restarts": record.restarts,
                "last_exit_code": record.last_exit_code,
                "last_restart_at": record.last_restart_at.isoformat() if record.last_restart_at else None,
            }
        write_status(self.stack.settings.data_dir, processes, datetime.now(UTC))
        self._status_written = True


@contextmanager
def supervised(stack: Stack, interval: float = POLL_SECONDS) -> Iterator[Supervisor]:
    """Supervise `stack` from a background thread until the block ends (for tests).

    Leave the block before `stack.stop()`, so nothing is restarted while the stack is being stopped.
    """
    supervisor = Supervisor(stack)
    stop = threading.Event()
    thread = threading.Thread(
        target=supervisor.run, args=(stop, interval), name="devstack-supervisor", daemon=True
    )
    thread.start()
    try:
        yield supervisor
    finally:
        stop.set()
        thread.join()
