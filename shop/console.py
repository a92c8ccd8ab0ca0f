"""How the tool talks: one-line errors, a progress line on a terminal, JSON for machines.

Exit codes (the same for every command, see `shop --help`):
0 done / READY / every invariant holds; 1 the check ran and found a problem (NOT READY, an invariant
failed, the newest backup is too old); 2 bad usage or settings; 3 refused or failed (unreachable
database, corrupted backup, non-empty target, ...) with nothing written.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3


class OperatorError(Exception):
    """A refusal or failure to report in one line (the cause named), with the exit code to end with."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"  # pragma: no cover - the loop always returns


class Progress:
    """A single self-rewriting line on stderr, drawn only on a terminal and at most 10 times a second,
    so logs and pipes never fill with it."""

    def __init__(self, label: str, total: int, *, stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.total = max(total, 0)
        self.done = 0
        self.bytes = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0

    def advance(self, documents: int, size: int = 0, *, label: str | None = None) -> None:
        self.done += documents
        self.bytes += size
        if label is not None:
            self.label = label
        now = time.monotonic()
        if self.enabled and now - self._drawn_at >= 0.1:
            self._drawn_at = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        width = 24
        share = self.done / self.total if self.total else 1.0
        filled = min(width, int(width * share))
        rate = self.done / max(now - self.started, 1e-6)
        line = (
            f"\r{self.label[:28]:<28} [{'#' * filled}{' ' * (width - filled)}] {share:6.1%} "
            f"{self.done:,}/{self.total:,} docs {human_bytes(self.bytes)} {rate:,.0f} docs/s"
        )
        self.stream.write(line + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()


def emit_json(payload: dict[str, Any]) -> None:
    """The machine-readable result: one JSON document on stdout."""
    print(json.dumps(payload, indent=2, default=str), flush=True)


def report_error(command: str, error: OperatorError, *, as_json: bool) -> int:
    """One line on stderr naming the cause (and a JSON document on stdout with --json)."""
    print(f"shop {command}: error: {error}", file=sys.stderr, flush=True)
    if as_json:
        emit_json({"ok": False, "command": command, "error": str(error), "exit_code": error.exit_code})
    return error.exit_code
