"""How contended checkouts were: the runs of each order's transaction and the time they took, as
the order service logs them with every placed order (`order.placed`: `attempts`, `transaction_ms`),
read from its log file (through the gateway) or caught in this process (direct)."""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stack import percentile

CHECKOUT_LOGGER = "order.checkout"


@dataclass
class TransactionFigures:
    attempts: list[int] = field(default_factory=list)  # per committed order
    milliseconds: list[float] = field(default_factory=list)

    def add(self, fields: dict[str, Any]) -> None:
        if "attempts" in fields:
            self.attempts.append(int(fields["attempts"]))
            self.milliseconds.append(float(fields["transaction_ms"]))

    def report(self) -> str:
        if not self.attempts:
            return "no order.placed events with transaction figures"
        runs = statistics.fmean(self.attempts)
        return (
            f"transaction runs per commit {runs:.2f} (retries {runs - 1:.2f}, most {max(self.attempts)}); "
            f"time in transaction p50 {percentile(self.milliseconds, 0.5):.1f} ms "
            f"p95 {percentile(self.milliseconds, 0.95):.1f} ms (n={len(self.attempts)})"
        )


class LogFile:
    """The events appended to a service's JSON log since the last `read`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self, event: str) -> TransactionFigures:
        figures = TransactionFigures()
        with self.path.open("rb") as log:
            log.seek(self.offset)
            for line in log:
                if event.encode() in line:
                    try:
                        figures.add(json.loads(line))
                    except ValueError:
                        continue
            self.offset = log.tell()
        return figures


class Caught(logging.Handler):
    """`order.placed` events of this process (the direct runs call place_order here)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.figures = TransactionFigures()

    def emit(self, record: logging.LogRecord) -> None:
        fields = getattr(record, "fields", None)
        if record.getMessage() == "order.placed" and isinstance(fields, dict):
            self.figures.add(fields)

    def take(self) -> TransactionFigures:
        """What was caught since the last call."""
        figures, self.figures = self.figures, TransactionFigures()
        return figures

    def __enter__(self) -> Caught:
        logger = logging.getLogger(CHECKOUT_LOGGER)
        logger.addHandler(self)
        self._level = logger.level
        logger.setLevel(logging.INFO)
        return self

    def __exit__(self, *_: object) -> None:
        logger = logging.getLogger(CHECKOUT_LOGGER)
        logger.removeHandler(self)
        logger.setLevel(self._level)
