"""The launcher's account of its processes, in `DATA_DIR/devstack-status.json`, for anyone to read.

The supervisor rewrites it whenever a process exits or is restarted. Every process of the stack gets
the same `DATA_DIR`, so the gateway can show restarts in its `/health` without asking the launcher.
The file only exists under `make run` (or a test that supervises its stack); readers treat a missing
or unreadable file as "nothing to report".
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

STATUS_FILE = "devstack-status.json"


def status_path(data_dir: Path) -> Path:
    return data_dir / STATUS_FILE


def write_status(data_dir: Path, processes: dict[str, dict[str, Any]], updated_at: datetime) -> None:
    """Replace the file atomically, so a reader never sees half of it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = status_path(data_dir)
    partial = path.with_name(f".{STATUS_FILE}.{os.getpid()}")
    body = {"launcher_pid": os.getpid(), "updated_at": updated_at.isoformat(), "processes": processes}
    partial.write_text(json.dumps(body, indent=2, default=str))
    partial.replace(path)


def read_restarts(data_dir: Path) -> dict[str, int] | None:
    """Restarts per process name (`{"order": 2, ...}`), or None when no launcher reports any."""
    try:
        body = json.loads(status_path(data_dir).read_text())
        return {name: int(entry["restarts"]) for name, entry in body["processes"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
