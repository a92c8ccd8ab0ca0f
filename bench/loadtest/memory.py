"""Resident memory of the stack's processes over time, read from /proc (each process with the
processes below it, such as an embedded server's helpers), sampled in a thread beside the load."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SAMPLE_SECONDS = 2.0


def _rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(raw[raw.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    return children


def tree_rss_bytes(root: int, children: Mapping[int, list[int]]) -> int:
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        total += _rss_bytes(pid)
        pending += children.get(pid, [])
    return total


@dataclass
class MemorySampler:
    """Samples `processes` (name -> pid) every SAMPLE_SECONDS until stopped: (unix time, name -> bytes)."""

    processes: dict[str, int]
    samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> dict[str, int]:
        children = _children()
        now = {name: tree_rss_bytes(pid, children) for name, pid in self.processes.items()}
        self.samples.append((time.time(), now))
        return now

    def start(self) -> None:
        def run() -> None:
            while not self._stop.wait(SAMPLE_SECONDS):
                self.sample()

        self._thread = threading.Thread(target=run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def peak(self, since: float = 0.0) -> dict[str, int]:
        """Each process's largest sample since `since`, and the largest sum of the stack at one time."""
        peaks: dict[str, int] = {}
        total = 0
        for at, values in self.samples:
            if at < since:
                continue
            for name, value in values.items():
                peaks[name] = max(peaks.get(name, 0), value)
            total = max(total, sum(value for name, value in values.items() if name != "locust"))
        return {**peaks, "stack": total}
