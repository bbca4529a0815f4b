"""Log formatters that carry the ids passed in `extra` (shipment_id, job_id, event_id, ...)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

# Attributes every LogRecord has; anything else on a record came from `extra=` and is context.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


_ids: contextvars.ContextVar[dict | None] = contextvars.ContextVar("log_ids", default=None)


@contextmanager
def log_context(**ids) -> Iterator[None]:
    """Attach ids (job_id, shipment_id, event_id...) to every log line written inside the block."""
    token = _ids.set({**(_ids.get() or {}), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _ids.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_ids.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


# URL secrets (?token=...) must not reach log files, whoever logs the URL (access logs, clients, simulators).
_SECRET_IN_URL = re.compile(r"([?&](?:token|api_key|key)=)[^&\s\"']+")
# Extras that web servers attach to access-log records and that say nothing useful in a log line.
_NOISE = {"request", "server_time"}


def redact(text: str) -> str:
    return _SECRET_IN_URL.sub(r"\1***", text)


class RedactFilter(logging.Filter):
    """Masks URL secrets in the message, whatever its arguments are (exceptions carry URLs too)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message:
            record.msg, record.args = redact(message), ()
        return True


def _context(record: logging.LogRecord) -> dict:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and k not in _NOISE and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_context(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Readable lines for a terminal: `12:00:01 INFO sync.jobs tracking created job_id=4 shipment_id=9`."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(f"{k}={v}" for k, v in _context(record).items())
        return redact(f"{line} {context}" if context else line)
