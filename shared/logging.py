"""Structured logs: one JSON object per line, with the service name, the current request id, and the
current trace and span ids when tracing is on (shared/telemetry.py), so a log line leads to its trace.

Log events are dotted names with fields: `log.info("order.placed", extra={"fields": {...}})`,
or through `log_event`. Never put secrets, tokens or card data in fields.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from shared.telemetry import current_trace_ids

_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

# Loggers of the server and libraries whose own handlers would otherwise print plain text.
_ADOPTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "pymongo")


def current_request_id() -> str | None:
    return _request_id.get()


def bind_request_id(request_id: str | None) -> Any:
    """Set the request id for the current task; returns a token for `unbind_request_id`."""
    return _request_id.set(request_id)


def unbind_request_id(token: Any) -> None:
    _request_id.reset(token)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "event": record.getMessage(),
            "logger": record.name,
        }
        request_id = current_request_id()
        if request_id:
            payload["request_id"] = request_id
        trace_ids = current_trace_ids()
        if trace_ids is not None:
            payload["trace_id"], payload["span_id"] = trace_ids
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send every log record of this process to stdout as one JSON line."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for name in _ADOPTED_LOGGERS:
        adopted = logging.getLogger(name)
        adopted.handlers[:] = []
        adopted.propagate = True
    # One line per request comes from our middleware; these would repeat it.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pymongo").setLevel(logging.WARNING)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})
