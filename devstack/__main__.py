"""`python -m devstack`: run the whole stack in the foreground until Ctrl-C or SIGTERM.

A process that crashes is restarted (devstack/supervisor.py); the launcher stops only when asked,
or when the embedded database cannot be brought back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import time
from types import FrameType

from dotenv import dotenv_values

from devstack.stack import _PR_SET_PDEATHSIG, SERVICES, Stack, StackError, StackSettings
from devstack.supervisor import POLL_SECONDS, Supervisor, SupervisorGaveUp
from shared.logging import configure_logging


class _Shutdown(Exception):
    pass


def _raise_shutdown(signum: int, frame: FrameType | None) -> None:
    raise _Shutdown(signal.Signals(signum).name)


def say(message: str) -> None:
    print(f"stack: {message}", file=sys.stderr, flush=True)


def local_defaults() -> dict[str, str]:
    """What `make run` offers unless the environment or `.env` says otherwise: the sandbox provider,
    so a fresh clone can place and pay an order without any provider account."""
    configured = {**dotenv_values(".env"), **os.environ}.get("PAYMENT_PROVIDERS")
    return {} if configured else {"PAYMENT_PROVIDERS": "sandbox"}


def main() -> int:
    if sys.platform.startswith("linux"):
        # When `make` (our parent) is killed, stop too, and take the children down with us.
        with contextlib.suppress(OSError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    signal.signal(signal.SIGINT, _raise_shutdown)
    # Restarts are logged as JSON lines on stdout, like every other process's events.
    configure_logging("devstack", os.environ.get("LOG_LEVEL", "INFO"))
    stack = Stack(StackSettings(), env=local_defaults())
    started = time.monotonic()
    try:
        if stack.embedded:
            say(f"embedded database on {stack.mongodb_url} (data in {stack.settings.data_dir}/mongodb)")
        else:
            say("using MONGODB_URL; no embedded database started")
        stack.start()
        for name in SERVICES:
            say(f"{name:8} {stack.url_of(name)}")
        say(f"ready in {time.monotonic() - started:.1f}s: gateway {stack.gateway_url} (Ctrl-C to stop)")
        supervisor = Supervisor(stack)
        while True:
            supervisor.poll_once()
            time.sleep(POLL_SECONDS)
    except _Shutdown as signal_name:
        say(f"{signal_name}: stopping")
        return 0
    except SupervisorGaveUp as exc:
        say(f"giving up: {exc}")
        return 1
    except StackError as exc:
        say(f"cannot start: {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())
